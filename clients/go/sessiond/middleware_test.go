package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
)

// fakeSessiond answers every call with reply; it counts the calls.
type fakeSessiond struct {
	*httptest.Server
	reply atomic.Pointer[func(w http.ResponseWriter)]
	calls atomic.Int32
}

func newFake(t *testing.T) *fakeSessiond {
	f := &fakeSessiond{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		(*f.reply.Load())(w)
	}))
	t.Cleanup(f.Close)
	f.answer(problem(503, "unavailable", "2"))
	return f
}

func (f *fakeSessiond) answer(fn func(w http.ResponseWriter)) { f.reply.Store(&fn) }

func problem(status int, code, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/problem+json")
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "x", "title": code, "status": status, "code": code, "request_id": "r1"})
	}
}

func fakeApp(t *testing.T, cfg sessiond.Config) http.Handler {
	m, err := sessiond.NewMiddleware(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessiond.FromRequest(r)
		_ = json.NewEncoder(w).Encode(map[string]any{"user": s.UserID, "new": s.IsNew()})
	}))
}

func serve(h http.Handler, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestTheMiddlewareAnswersEachSessiondFailureByItsCode(t *testing.T) {
	f := newFake(t)
	c, _ := sessiond.New(f.URL, "sk_test")
	app := fakeApp(t, sessiond.Config{Client: c, CookieName: "__Host-sid"})
	for _, tc := range []struct {
		name        string
		reply       func(w http.ResponseWriter)
		status      int
		retryAfter  string
		clearCookie bool
	}{
		{"503 unavailable is 503 with Retry-After, cookie kept", problem(503, "unavailable", "9"), 503, "9", false},
		{"401 unauthorized (API key revoked) is 500, cookie kept", problem(401, "unauthorized", ""), 500, "", false},
		{"403 forbidden (scope, suspended tenant) is 500, cookie kept", problem(403, "forbidden", ""), 500, "", false},
		{"429 rate_limited is 429, cookie kept", problem(429, "rate_limited", "60"), 429, "60", false},
		{"a proxy's 502 without a problem body is 503", func(w http.ResponseWriter) { w.WriteHeader(502) }, 503, "5", false},
		{"401 session_invalid is a new anonymous session, cookie cleared", problem(401, "session_invalid", ""), 200, "", true},
		{"401 session_expired_idle too", problem(401, "session_expired_idle", ""), 200, "", true},
		{"401 binding_mismatch too", problem(401, "binding_mismatch", ""), 200, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.answer(tc.reply)
			rec := serve(app, "__Host-sid=v1.tok")
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			set := rec.Header().Get("Set-Cookie")
			if tc.clearCookie {
				want := "__Host-sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
				if set != want {
					t.Errorf("Set-Cookie %q, want %q", set, want)
				}
			} else if set != "" {
				t.Errorf("Set-Cookie %q: the cookie must be kept", set)
			}
		})
	}
}

func TestARequestWithoutACookieMakesNoCall(t *testing.T) {
	f := newFake(t)
	c, _ := sessiond.New(f.URL, "sk_test")
	rec := serve(fakeApp(t, sessiond.Config{Client: c}), "")
	if rec.Code != 200 || f.calls.Load() != 0 {
		t.Fatalf("status %d, %d calls", rec.Code, f.calls.Load())
	}
}

func TestUnsafeMethodsSendTheCSRFToken(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		problem(403, "csrf_mismatch", "")(w)
	}))
	defer srv.Close()
	c, _ := sessiond.New(srv.URL, "sk_test")
	app := fakeApp(t, sessiond.Config{Client: c})
	req := httptest.NewRequest("POST", "/", strings.NewReader("_csrf=abc&x=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "sid=v1.tok")
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	if rec.Code != 403 || got["csrf_token"] != "abc" || got["token"] != "v1.tok" {
		t.Fatalf("status %d, sent %v", rec.Code, got)
	}
}

func TestTheClientSaysUnavailableWhenSessiondIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, _ := sessiond.New("http://"+addr, "sk_test", sessiond.WithTimeout(2*time.Second))
	_, err = c.Verify(context.Background(), sessiond.VerifyParams{Token: "x"})
	var se *sessiond.Error
	if !errors.As(err, &se) || se.Code != sessiond.CodeUnavailable || se.HTTPStatus != 0 || sessiond.IsSessionEnded(err) {
		t.Fatalf("err = %#v", err)
	}
	if sessiond.HTTPStatus(err) != 503 {
		t.Fatalf("HTTPStatus = %d", sessiond.HTTPStatus(err))
	}
}

func TestTheClientTimesOutAsUnavailable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c, _ := sessiond.New(srv.URL, "sk_test", sessiond.WithTimeout(100*time.Millisecond))
	if _, err := c.Verify(context.Background(), sessiond.VerifyParams{Token: "x"}); !sessiond.IsUnavailable(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestMergePatch(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after map[string]any
		want          map[string]any
	}{
		{"nothing changed", map[string]any{"a": 1.0, "b": map[string]any{"c": []any{1.0}}}, map[string]any{"a": 1, "b": map[string]any{"c": []any{1}}}, nil},
		{"a member added and one changed", map[string]any{"a": 1.0}, map[string]any{"a": 2, "b": "x"}, map[string]any{"a": 2, "b": "x"}},
		{"a removed member becomes null", map[string]any{"a": 1.0, "b": 2.0}, map[string]any{"a": 1.0}, map[string]any{"b": nil}},
		{"a nil member is removed", map[string]any{"a": 1.0}, map[string]any{"a": nil}, map[string]any{"a": nil}},
		{"nested objects are diffed", map[string]any{"p": map[string]any{"x": 1.0, "y": 2.0}}, map[string]any{"p": map[string]any{"x": 1.0}}, map[string]any{"p": map[string]any{"y": nil}}},
		{"arrays are replaced whole", map[string]any{"l": []any{1.0, 2.0}}, map[string]any{"l": []any{1.0}}, map[string]any{"l": []any{1.0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessiond.MergePatch(tc.before, tc.after); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestConfigRefusesUnsafeCookies(t *testing.T) {
	c, _ := sessiond.New("http://127.0.0.1:1", "sk_test")
	for name, cfg := range map[string]sessiond.Config{
		"no client":                {},
		"SameSite=None over HTTP":  {Client: c, SameSite: http.SameSiteNoneMode, Insecure: true},
		"an insecure __Host- name": {Client: c, CookieName: "__Host-sid", Insecure: true},
		"a __Host- name on a path": {Client: c, CookieName: "__Host-sid", Path: "/app"},
	} {
		if _, err := sessiond.NewMiddleware(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
