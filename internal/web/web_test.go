package web_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/web"
)

// serve runs one request through WithRequestID and WithAccessLog around h
// and returns the response and the access log line.
func serve(t *testing.T, h http.Handler, method, path string) (*httptest.ResponseRecorder, map[string]any, string) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, nil)
	r.Header.Set("X-Request-Id", "req-1")
	web.WithRequestID(web.WithAccessLog(log, h)).ServeHTTP(w, r)
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err == nil && m["msg"] == "request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access log line in %s", logs.String())
	}
	return w, line, logs.String()
}

func TestAccessLogNamesTheRouteNeverThePath(t *testing.T) {
	mux := web.NewRouter()
	mux.Handle("/v1/sessions/{session_id}", web.Named("/v1/sessions/{session_id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))).Methods("GET")
	mux.Handle("/admin/t/{tid}/", web.Named("/admin/t/{tid}/", http.NotFoundHandler()))
	mux.NewRoute().Handler(http.NotFoundHandler()) // a catch-all that names no route
	const secret = "v1.k_abc.aa.SECRETNONCE.SECRETMAC"
	for _, c := range []struct{ name, path, route string }{
		{"a matched route", "/v1/sessions/" + secret, "/v1/sessions/{session_id}"},
		{"a template ending in /", "/admin/t/" + secret + "/", "/admin/t/{tid}/"},
		{"no route", "/v1/" + secret + "/x", web.Unmatched},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, line, logs := serve(t, mux, "GET", c.path)
			if line["route"] != c.route || line["request_id"] != "req-1" || line["method"] != "GET" {
				t.Fatalf("access log line %v, want route %q", line, c.route)
			}
			if strings.Contains(logs, "SECRET") {
				t.Fatalf("the raw path is in the log: %s", logs)
			}
		})
	}
}

func TestRecorderRemembersTheFirstStatusAndTheSize(t *testing.T) {
	w, line, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("hello"))
	}), "GET", "/")
	if w.Code != http.StatusTeapot || line["status"] != float64(http.StatusTeapot) || line["bytes"] != float64(5) {
		t.Fatalf("status %d, log %v", w.Code, line)
	}
}

func TestRecoverAnswersWithTheSurfacesRendererAndLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := web.WithRecover(log, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "generic error "+web.RequestID(r.Context()), http.StatusInternalServerError)
	}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("X-Request-Id", "req-2")
	web.WithRequestID(h).ServeHTTP(w, r)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "generic error req-2") {
		t.Fatalf("answer %d %q", w.Code, w.Body.String())
	}
	if strings.Count(logs.String(), "\n") != 1 || !strings.Contains(logs.String(), `"request_id":"req-2"`) || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("log: %s", logs.String())
	}
	if strings.Contains(w.Body.String(), "goroutine") {
		t.Fatal("the stack reached the client")
	}
}

func TestRecoverPassesOnErrAbortHandler(t *testing.T) {
	h := web.WithRecover(slog.New(slog.DiscardHandler), func(http.ResponseWriter, *http.Request) {},
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestRequestIDEchoesOnlyWellFormedIDs(t *testing.T) {
	made := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, c := range []struct {
		id   string
		echo bool
	}{
		{"a", true}, {"AZaz09._-", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false}, {"a b", false}, {"a/b", false}, {"é", false}, {"a\n", false}, {"{}", false},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", c.id)
		var seen string
		web.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = web.RequestID(r.Context())
		})).ServeHTTP(w, r)
		got := w.Header().Get("X-Request-Id")
		if seen != got || c.echo && got != c.id || !c.echo && !made.MatchString(got) {
			t.Errorf("X-Request-Id %q: answered %q, request id %q", c.id, got, seen)
		}
	}
}

func TestRouterGivesTheRouteVariablesAsPathValues(t *testing.T) {
	rt := web.NewRouter()
	rt.Handle("/t/{tid}/u/{uid}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.PathValue("tid") + " " + r.PathValue("uid")))
	})).Methods("GET")
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/t/a/u/b", http.StatusOK, "a b"},
		{"POST", "/t/a/u/b", http.StatusMethodNotAllowed, ""},
		{"GET", "/t/a", http.StatusNotFound, "404 page not found\n"},
	} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.status || w.Body.String() != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, w.Code, w.Body.String(), c.status, c.body)
		}
	}
}

// Keep fills in the request's state when a layer of the chain made one,
// and otherwise gives a copy of the request a state of its own.
func TestKeepCopiesTheRequestOnlyOutsideTheChain(t *testing.T) {
	v := new(int)
	web.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.Keep(r, v) != r || web.Kept(r.Context()) != v {
			t.Error("under WithRequestID, Keep copied the request or lost the value")
		}
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	r := httptest.NewRequest("GET", "/", nil)
	kept := web.Keep(r, v)
	web.SetRoute(kept, "/x")
	if kept == r || web.Kept(kept.Context()) != v || web.Route(kept.Context()) != "/x" || web.Kept(r.Context()) != nil {
		t.Error("alone, Keep did not give a copy of the request a state of its own")
	}
}
