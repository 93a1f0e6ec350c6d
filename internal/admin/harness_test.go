package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/apptest"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// env is one running sessiond (API and admin UI) on a private schema, Redis
// prefix and clock.
type env struct {
	t     testing.TB
	clock *testkit.Clock
	logs  *testkit.Buffer
	app   *app.App
	srv   *httptest.Server
	s     *apptest.Server
}

type envOptions struct {
	tls      bool // serve over HTTPS (httptest's certificate)
	dev      bool // allow plain HTTP (serve --dev)
	throttle adminauth.Throttle
	// behindProxy trusts loopback peers' X-Forwarded-For, so clients made
	// with newClientVia appear to come from any address.
	behindProxy bool
	// hooks: SESSIOND_WEBHOOK_ALLOW_PRIVATE, and a dispatcher only tests
	// drive (Pump).
	hooks bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	var trusted []netip.Prefix
	if o.behindProxy {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	return wrapServer(t, apptest.Start(t, apptest.Options{TLS: o.tls, Dev: o.dev, AdminThrottle: o.throttle, TrustedProxies: trusted,
		WebhookAllowPrivate: o.hooks, Webhooks: webhooks.Options{Manual: o.hooks}}))
}

func wrapServer(t testing.TB, s *apptest.Server) *env {
	return &env{t: t, clock: s.Clock, logs: s.Logs, app: s.App, srv: s.HTTP, s: s}
}

// sibling starts another replica sharing e's database and Redis.
func (e *env) sibling() *env {
	e.t.Helper()
	return wrapServer(e.t, e.s.Sibling(e.t))
}

// tenant is a tenant with its first API key.
type tenant = apptest.Tenant

func (e *env) createTenant(name string) tenant {
	e.t.Helper()
	return e.s.CreateTenant(e.t, name)
}

func (e *env) createAdmin(tenantID, email, password string) tenants.Admin {
	e.t.Helper()
	a, err := e.app.Tenants.CreateAdmin(context.Background(), tenantID, email, password, tenants.Actor{Name: "operator"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) flushEvents() { e.s.FlushEvents() }

// api calls the REST API with a bearer credential and decodes the JSON
// answer into out (if not nil).
func (e *env) api(method, path, token string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r, _ := http.NewRequest(method, e.srv.URL+path, rd)
	r.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return res.StatusCode
}

// apiSession is a session created through the REST API.
type apiSession struct {
	Token   string `json:"token"`
	Session struct {
		ID     string `json:"id"`
		Device struct {
			Label string `json:"label"`
		} `json:"device"`
	} `json:"session"`
}

func (e *env) createSession(apiKey, userID, userAgent, ip string) apiSession {
	e.t.Helper()
	var s apiSession
	body := map[string]any{"user_id": userID, "device": map[string]any{"user_agent": userAgent, "ip": ip}}
	if st := e.api("POST", "/v1/sessions", apiKey, body, &s); st != http.StatusCreated {
		e.t.Fatalf("create session: %d", st)
	}
	return s
}

// verifies reports whether token verifies through the REST API.
func (e *env) verifies(apiKey, token string) bool {
	e.t.Helper()
	return e.api("POST", "/v1/sessions/verify", apiKey, map[string]any{"token": token}, nil) == http.StatusOK
}

// Three devices used across the tests.
var devices = []struct{ ua, ip, label string }{
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "203.0.113.10", "Chrome 126 on macOS"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "198.51.100.7", "on iPhone"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", "2001:db8::1", "Firefox 127 on Windows"},
}

// client is one browser: a cookie jar, no automatic redirects, and the
// headers a browser sends on a same-origin form post.
type client struct {
	e    *env
	t    testing.TB
	http *http.Client
	csrf string // from the last page that had a form
	via  string // X-Forwarded-For of every request ("" none)
}

func (e *env) newClient() *client {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{
		Transport: e.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &client{e: e, t: e.t, http: hc}
}

// newClientFrom is a browser whose connections come from ip, a loopback
// address other than 127.0.0.1 (Linux answers all of 127.0.0.0/8), so the
// server sees another client IP without trusting any proxy.
func (e *env) newClientFrom(ip string) *client {
	c := e.newClient()
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr.DialContext = d.DialContext
	c.http.Transport = tr
	return c
}

// newClientVia is a browser whose requests reach the server through a
// trusted proxy that says they come from ip (any address, IPv6 too; the
// env needs behindProxy).
func (e *env) newClientVia(ip string) *client {
	c := e.newClient()
	c.via = ip
	return c
}

// page is one answer of the admin UI.
type page struct {
	Status int
	Header http.Header
	Body   string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(r *http.Request) page {
	c.t.Helper()
	r.Header.Set("User-Agent", "admin-test/1.0 (X11; Linux x86_64)")
	if c.via != "" {
		r.Header.Set("X-Forwarded-For", c.via)
	}
	res, err := c.http.Do(r)
	if err != nil {
		c.t.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	p := page{Status: res.StatusCode, Header: res.Header, Body: string(b)}
	checkSecurityHeaders(c.t, r, p, c.e.srv.TLS != nil)
	if m := csrfField.FindStringSubmatch(p.Body); m != nil {
		c.csrf = m[1]
	}
	return p
}

// checkSecurityHeaders asserts the headers every admin response carries.
func checkSecurityHeaders(t testing.TB, r *http.Request, p page, tls bool) {
	t.Helper()
	where := r.Method + " " + r.URL.Path
	csp := p.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", where, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: CSP allows unsafe-inline", where)
	}
	if got := p.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q", where, got)
	}
	if got := p.Header.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("%s: Referrer-Policy = %q", where, got)
	}
	hsts := p.Header.Get("Strict-Transport-Security")
	if tls && !strings.Contains(hsts, "max-age=") {
		t.Errorf("%s: no HSTS over TLS", where)
	}
	if !tls && hsts != "" {
		t.Errorf("%s: HSTS over plain HTTP", where)
	}
	if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: HTML page is cacheable: %q", where, p.Header.Get("Cache-Control"))
		}
		if strings.Contains(p.Body, "<script>") || strings.Contains(p.Body, " style=") || strings.Contains(p.Body, "<style") ||
			regexp.MustCompile(` on[a-z]+="`).MatchString(p.Body) {
			t.Errorf("%s: inline script or style in the page", where)
		}
	}
}

func (c *client) get(path string) page {
	c.t.Helper()
	r, _ := http.NewRequest("GET", c.e.srv.URL+path, nil)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(r)
}

// post sends a same-origin form, with the CSRF token of the last page.
func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	return c.postRaw(path, form, map[string]string{"Origin": c.e.srv.URL, "Sec-Fetch-Site": "same-origin"})
}

func (c *client) postRaw(path string, form url.Values, header map[string]string) page {
	c.t.Helper()
	r, _ := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return c.do(r)
}

// login signs in and fails the test unless it succeeds.
func (c *client) login(email, password string) {
	c.t.Helper()
	p := c.post("/admin/login", url.Values{"email": {email}, "password": {password}})
	if p.Status != http.StatusSeeOther {
		c.t.Fatalf("login as %s: %d %s", email, p.Status, p.Body)
	}
	c.get(p.Header.Get("Location")) // pick up the CSRF token
}

// setCookie puts a cookie in the browser's jar, or removes it (value "").
func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.e.srv.URL)
	ck := &http.Cookie{Name: name, Value: value, Path: "/"}
	if value == "" {
		ck.MaxAge = -1
	}
	c.http.Jar.SetCookies(u, []*http.Cookie{ck})
}

func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func wantStatus(t testing.TB, what string, p page, want int) {
	t.Helper()
	if p.Status != want {
		body := p.Body
		if len(body) > 2000 {
			body = body[:2000]
		}
		t.Fatalf("%s: status %d, want %d\n%s", what, p.Status, want, body)
	}
}

func wantContains(t testing.TB, what string, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.Body, s) {
			t.Errorf("%s: page lacks %q", what, s)
		}
	}
}
