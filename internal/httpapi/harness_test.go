package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/apptest"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testkit"
)

const operatorToken = apptest.OperatorToken

// env is one running sessiond (or several sharing PostgreSQL and Redis)
// with a private schema, Redis prefix and clock, and a client that checks
// every response against the OpenAPI document.
type env struct {
	t      testing.TB
	cfg    config.Config
	clock  *testkit.Clock
	logs   *testkit.Buffer
	app    *app.App
	srv    *httptest.Server
	s      *apptest.Server
	router routers.Router
}

type envOptions = apptest.Options

// newEnv starts sessiond against real PostgreSQL and Redis.
func newEnv(t testing.TB, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return wrap(t, apptest.Start(t, o))
}

func wrap(t testing.TB, s *apptest.Server) *env {
	t.Helper()
	e := &env{t: t, cfg: s.Config, clock: s.Clock, logs: s.Logs, app: s.App, srv: s.HTTP, s: s}
	doc, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if e.router, err = gorillamux.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	return e
}

// sibling starts a second instance sharing e's PostgreSQL schema, Redis
// server and prefix, and master key.
func (e *env) sibling() *env {
	e.t.Helper()
	return wrap(e.t, (&apptest.Server{Config: e.cfg}).Sibling(e.t))
}

// resp is a response already checked against the OpenAPI document.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// code returns the problem code of an error response.
func (r resp) code(t testing.TB) string {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	r.decode(t, &p)
	return p.Code
}

// req is one request to send.
type req struct {
	method, path string
	token        string // bearer credential
	body         any    // encoded as JSON unless a string or []byte
	contentType  string
	header       map[string]string
}

// do sends r and fails the test if the response does not match the
// OpenAPI document exactly (status documented, headers, body schema with no
// extra fields).
func (e *env) do(r req) resp {
	e.t.Helper()
	var body []byte
	switch b := r.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	got := resp{Status: res.StatusCode, Header: res.Header, Body: out}
	e.checkAgainstSpec(hr, body, got)
	return got
}

func (e *env) checkAgainstSpec(hr *http.Request, body []byte, got resp) {
	e.t.Helper()
	if got.Header.Get("X-Request-Id") == "" {
		e.t.Errorf("%s %s: no X-Request-Id", hr.Method, hr.URL.Path)
	}
	// Route lookup uses a clean copy, since the client consumed the body.
	u, _ := url.Parse(hr.URL.String())
	probe := &http.Request{Method: hr.Method, URL: u, Header: hr.Header, Host: hr.Host}
	probe.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := e.router.FindRoute(probe)
	if err != nil {
		// Not an endpoint of the API: the answer must still be a problem.
		if got.Status < 400 || !strings.HasPrefix(got.Header.Get("Content-Type"), "application/problem+json") {
			e.t.Errorf("%s %s: undocumented path answered %d %s", hr.Method, hr.URL.Path, got.Status, got.Header.Get("Content-Type"))
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 got.Status,
		Header:                 got.Header,
		Body:                   io.NopCloser(bytes.NewReader(got.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s answered %d, which the OpenAPI document does not allow:\n%v\nbody: %s", hr.Method, hr.URL.Path, got.Status, err, got.Body)
	}
}

// tenant is a tenant with its first API key.
type tenant = apptest.Tenant

// createTenant creates a tenant through the operator API (the API under
// test; apptest.Server.CreateTenant goes through the service).
func (e *env) createTenant(name string) tenant {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/tenants", token: operatorToken, body: map[string]any{"name": name}})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create tenant: %d %s", r.Status, r.Body)
	}
	var out struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	r.decode(e.t, &out)
	return tenant{ID: out.Tenant.ID, APIKey: out.APIKey.Secret, Name: name}
}

// flushEvents stores every security event recorded so far.
func (e *env) flushEvents() { e.s.FlushEvents() }

// eventually polls cond until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
