package goclienttest

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
	"github.com/sessiond/sessiond/internal/apptest"
)

// The shared scenario list (clients/SCENARIOS.md) against a real sessiond
// (internal/apptest: fresh schema, fresh Redis prefix, injected clock) and a
// small app on the middleware, the Go twin of examples/express-app.

var users = map[string]string{"alice": "correct-horse", "bob": "battery-staple", "carol": "staple-horse"}

// newApp is the seed tutorial's app on the middleware.
func newApp(t *testing.T, client *sessiond.Client) http.Handler {
	m, err := sessiond.NewMiddleware(sessiond.Config{Client: client, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	page := func(w http.ResponseWriter, status int, title, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1>%s", html.EscapeString(title), html.EscapeString(title), body)
	}
	form := func(r *http.Request, action, fields, label string) string {
		return fmt.Sprintf(`<form method="post" action="%s"><input type="hidden" name="_csrf" value="%s">%s<button>%s</button></form>`,
			action, html.EscapeString(sessiond.FromRequest(r).CSRFToken), fields, label)
	}
	handle := func(h func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r, sessiond.FromRequest(r)); err != nil {
				m.Error(w, r, err)
			}
		})
	}
	mustLogin := m.RequireLogin(http.RedirectHandler("/login", http.StatusSeeOther))
	recentAuth := m.RequireRecentAuth(time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page(w, 403, "Confirm your password", form(r, "/reauth", `<input name="username"><input name="password">`, "Confirm"))
	}))
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		views, _ := s.Data["views"].(float64)
		s.Data["views"] = views + 1
		if err := s.Save(r.Context()); err != nil {
			return err
		}
		who := s.UserID
		if who == "" {
			who = "visitor"
		}
		page(w, 200, "Home", fmt.Sprintf(`<p>Hello %s, view <b id="views">%v</b>.</p>`, html.EscapeString(who), s.Data["views"]))
		return nil
	}))
	mux.Handle("GET /login", handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		page(w, 200, "Log in", form(r, "/login", `<input name="username"><input name="password">`, "Log in"))
		return nil
	}))
	mux.Handle("POST /login", handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		u := r.PostFormValue("username")
		if pw, ok := users[u]; !ok || pw != r.PostFormValue("password") {
			page(w, 401, "Wrong username or password", "")
			return nil
		}
		if err := s.Login(r.Context(), u); err != nil {
			return err
		}
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return nil
	}))
	mux.Handle("GET /profile", mustLogin(handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		devices, err := s.Devices(r.Context())
		if err != nil {
			return err
		}
		var li strings.Builder
		for _, d := range devices {
			class := "device"
			if d.Current {
				class += " current"
			}
			fmt.Fprintf(&li, `<li class="%s">%s</li>`, class, html.EscapeString(d.Device.UserAgent))
		}
		name, _ := s.Data["name"].(string)
		email, _ := s.Data["email"].(string)
		page(w, 200, "Profile of "+s.UserID, fmt.Sprintf(`<p id="name">%s</p><p id="email">%s</p>%s<ul>%s</ul>`,
			html.EscapeString(name), html.EscapeString(email), form(r, "/profile", `<input name="name">`, "Save"), li.String()))
		return nil
	})))
	mux.Handle("POST /profile", mustLogin(handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		s.Data["name"] = r.PostFormValue("name")
		if err := s.Save(r.Context()); err != nil {
			return err
		}
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return nil
	})))
	mux.Handle("POST /logout-others", mustLogin(handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		ended, err := s.LogoutOtherDevices(r.Context())
		if err != nil {
			return err
		}
		page(w, 200, "Other devices logged out", fmt.Sprintf(`<p id="ended">%d</p>`, len(ended)))
		return nil
	})))
	mux.Handle("POST /email", mustLogin(recentAuth(handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		s.Data["email"] = r.PostFormValue("email")
		if err := s.Save(r.Context()); err != nil {
			return err
		}
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return nil
	}))))
	mux.Handle("POST /reauth", mustLogin(handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		if u := r.PostFormValue("username"); u != s.UserID || users[u] != r.PostFormValue("password") {
			page(w, 401, "Wrong password", "")
			return nil
		}
		if err := s.Reauthenticate(r.Context()); err != nil {
			return err
		}
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return nil
	})))
	mux.Handle("POST /logout", handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		if err := s.Destroy(r.Context()); err != nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}))
	return m.Handler(mux)
}

// browser keeps the sid cookie like a browser.
type browser struct {
	t    *testing.T
	base string
	ua   string
	sid  *string
}

type reply struct {
	status    int
	body      string
	header    http.Header
	setCookie string // the sid Set-Cookie line, if any
}

func newBrowser(t *testing.T, base, ua string) *browser { return &browser{t: t, base: base, ua: ua} }

func (b *browser) do(method, path string, form url.Values, header map[string]string) reply {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", b.ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if b.sid != nil {
		req.Header.Set("Cookie", "sid="+*b.sid)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, body: string(raw), header: res.Header}
	for _, line := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "sid=") {
			r.setCookie = line
			c := res.Cookies()
			for _, ck := range c {
				if ck.Name == "sid" {
					if ck.MaxAge < 0 {
						b.sid = nil
					} else {
						v := ck.Value
						b.sid = &v
					}
				}
			}
		}
	}
	return r
}

func (b *browser) get(path string) reply { b.t.Helper(); return b.do("GET", path, nil, nil) }
func (b *browser) post(path string, form url.Values) reply {
	b.t.Helper()
	return b.do("POST", path, form, nil)
}

// postForm posts with the CSRF token of the page at from.
func (b *browser) postForm(from, path string, form url.Values) reply {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", csrfOf(b.t, b.get(from).body))
	return b.post(path, form)
}

func (b *browser) login(user, password string) reply {
	b.t.Helper()
	return b.postForm("/login", "/login", url.Values{"username": {user}, "password": {password}})
}

func (b *browser) token() string {
	if b.sid == nil {
		return ""
	}
	return *b.sid
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in %s", body)
	}
	return html.UnescapeString(m[1])
}

func want(t *testing.T, what string, got, wanted any) {
	t.Helper()
	if got != wanted {
		t.Fatalf("%s: got %v, want %v", what, got, wanted)
	}
}

func wantMatch(t *testing.T, what, s, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(s) {
		t.Fatalf("%s: %q does not match %s", what, s, pattern)
	}
}

// swappable lets the test replace the app (a new API key, a new sessiond
// address) behind the same browser-facing URL.
type swappable struct{ h atomic.Pointer[http.Handler] }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }
func (s *swappable) set(h http.Handler)                               { s.h.Store(&h) }

func mustClient(t *testing.T, base, key string) *sessiond.Client {
	t.Helper()
	c, err := sessiond.New(base, key, sessiond.WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScenarios(t *testing.T) { runScenarios(t, false) }

// TestScenariosCached runs every scenario with the app's client WithCache.
func TestScenariosCached(t *testing.T) { runScenarios(t, true) }

// appClient is the app's client, with the local cache (on the server's clock) when cached.
func appClient(t *testing.T, srv *apptest.Server, key string, cached bool) *sessiond.Client {
	t.Helper()
	opts := []sessiond.Option{sessiond.WithTimeout(3 * time.Second)}
	if cached {
		opts = append(opts, sessiond.WithCache(sessiond.CacheOptions{Now: srv.Clock.Now}))
	}
	c, err := sessiond.New(srv.HTTP.URL, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if cached {
		waitFor(t, "the change stream to be ready", func() bool { return c.CacheStats().Ready })
	}
	return c
}

func runScenarios(t *testing.T, cached bool) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx := context.Background()
	srv := apptest.Start(t, apptest.Options{})
	operator := mustClient(t, srv.HTTP.URL, apptest.OperatorToken)
	tenant, err := operator.CreateTenant(ctx, "go client scenarios")
	if err != nil {
		t.Fatal(err)
	}
	admin := mustClient(t, srv.HTTP.URL, tenant.APIKey.Secret)
	appKey, err := admin.CreateAPIKey(ctx, "web backend", "sessions")
	if err != nil {
		t.Fatal(err)
	}
	app := &swappable{}
	appC := appClient(t, srv, appKey.Secret, cached)
	app.set(newApp(t, appC))
	// delivered waits, with the cache on, until the change made after
	// LastEventID was id reached the app's cache (the documented window
	// between sessiond's answer and the stream's delivery).
	delivered := func(t *testing.T, id string) {
		if cached {
			waitFor(t, "the change stream", func() bool { return appC.CacheStats().LastEventID != id })
		}
	}
	web := httptest.NewServer(app)
	t.Cleanup(web.Close)
	verify := func(token string) (sessiond.Verified, error) {
		return admin.Verify(ctx, sessiond.VerifyParams{Token: token})
	}
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	a := newBrowser(t, web.URL, firefox)

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1. anonymous: saving data starts a session with a hardened cookie; junk cookies are just no session", func(t *testing.T) {
			a.t = t
			r := a.get("/")
			want(t, "status", r.status, 200)
			wantMatch(t, "page", r.body, `Hello visitor, view <b id="views">1<`)
			wantMatch(t, "cookie", r.setCookie, `^sid=[^;]+; Path=/; Expires=[^;]+; HttpOnly; SameSite=Lax$`)
			r = a.get("/")
			wantMatch(t, "page", r.body, `view <b id="views">2<`)
			want(t, "Set-Cookie on an unchanged session", r.setCookie, "")
			for _, junk := range []string{"", "junk", "v1.k_aaaaaaaaaaaaaaaa.ab.x.y", strings.Repeat("x", 600)} {
				j := newBrowser(t, web.URL, firefox)
				j.sid = &junk
				r := j.get("/")
				want(t, fmt.Sprintf("status with cookie %.20q (%s)", junk, r.body), r.status, 200)
				wantMatch(t, "page", r.body, `view <b id="views">1<`)
				if j.token() == "" || j.token() == junk {
					t.Fatalf("the junk cookie %.20q was not replaced", junk)
				}
			}
		}},
		{"2. login: a wrong password changes nothing; a right one issues a new cookie and kills the old one", func(t *testing.T) {
			a.t = t
			before := a.token()
			want(t, "wrong password", a.login("alice", "wrong").status, 401)
			want(t, "cookie after a wrong password", a.token(), before)
			r := a.login("alice", "correct-horse")
			want(t, "status", r.status, 303)
			want(t, "location", r.header.Get("Location"), "/profile")
			if a.token() == "" || a.token() == before {
				t.Fatal("no new token on login")
			}
			if _, err := verify(before); sessiond.CodeOf(err) != sessiond.CodeSessionInvalid {
				t.Fatalf("the pre-login token: %v", err)
			}
			v, err := verify(a.token())
			if err != nil || v.Session.UserID != "alice" || v.Session.AuthTime == nil {
				t.Fatalf("after login: %+v %v", v.Session, err)
			}
			wantMatch(t, "data moved over", a.get("/").body, `Hello alice, view <b id="views">3<`)
			planted := newBrowser(t, web.URL, firefox)
			planted.sid = &before
			r = planted.get("/profile")
			want(t, "the planted cookie", r.status, 303)
			wantMatch(t, "and it is cleared", r.setCookie, `Max-Age=0`)
		}},
		{"3. profile: the logged-in user sees it; a visitor is sent to the login page", func(t *testing.T) {
			a.t = t
			r := a.get("/profile")
			want(t, "status", r.status, 200)
			wantMatch(t, "page", r.body, `Profile of alice`)
			r = newBrowser(t, web.URL, firefox).get("/profile")
			want(t, "visitor", r.status, 303)
			want(t, "location", r.header.Get("Location"), "/login")
		}},
		{"4. CSRF: the right token saves the form; a wrong or missing one is 403 and changes nothing", func(t *testing.T) {
			a.t = t
			token := csrfOf(t, a.get("/profile").body)
			want(t, "good token", a.post("/profile", url.Values{"_csrf": {token}, "name": {"Alice <Liddell>"}}).status, 303)
			wantMatch(t, "saved", a.get("/profile").body, `<p id="name">Alice &lt;Liddell&gt;</p>`)
			for _, bad := range []url.Values{{"_csrf": {"forged"}}, {}, {"_csrf": {""}}} {
				bad.Set("name", "Mallory")
				r := a.post("/profile", bad)
				want(t, "bad token "+bad.Encode(), r.status, 403)
				want(t, "cookie kept", r.setCookie, "")
			}
			r := a.do("POST", "/profile", url.Values{"name": {"Alice"}}, map[string]string{"X-CSRF-Token": token})
			want(t, "X-CSRF-Token header", r.status, 303)
			wantMatch(t, "saved", a.get("/profile").body, `<p id="name">Alice</p>`)
		}},
		{"5. re-auth: a sensitive action needs a recent password; re-entering it issues a new cookie", func(t *testing.T) {
			a.t = t
			srv.Clock.Advance(2 * time.Second) // the app asks for a login at most 1 s old
			r := a.postForm("/profile", "/email", url.Values{"email": {"alice@example.com"}})
			want(t, "status", r.status, 403)
			wantMatch(t, "page", r.body, `Confirm your password`)
			before := a.token()
			want(t, "wrong password", a.post("/reauth", url.Values{"_csrf": {csrfOf(t, r.body)}, "username": {"alice"}, "password": {"nope"}}).status, 401)
			want(t, "re-auth", a.postForm("/profile", "/reauth", url.Values{"username": {"alice"}, "password": {"correct-horse"}}).status, 303)
			if a.token() == before {
				t.Fatal("re-auth did not regenerate")
			}
			want(t, "sensitive action", a.postForm("/profile", "/email", url.Values{"email": {"alice@example.com"}}).status, 303)
			wantMatch(t, "saved", a.get("/profile").body, `<p id="email">alice@example.com</p>`)
		}},
		{"6. key rotation: the next request re-sets the cookie with the re-signed token", func(t *testing.T) {
			a.t = t
			old := a.token()
			keys, err := admin.Keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := appC.CacheStats().LastEventID
			if _, err := admin.RotateKey(ctx); err != nil {
				t.Fatal(err)
			}
			delivered(t, id)
			r := a.get("/profile")
			want(t, "status", r.status, 200)
			wantMatch(t, "cookie re-set", r.setCookie, `^sid=[^;]+; Path=/; Expires=[^;]+; HttpOnly; SameSite=Lax$`)
			if a.token() == old {
				t.Fatal("same token after a rotation")
			}
			want(t, "second request", a.get("/profile").setCookie, "")
			if _, err := admin.RetireKey(ctx, keys[0].KID); err != nil {
				t.Fatal(err)
			}
			if _, err := verify(old); sessiond.CodeOf(err) != sessiond.CodeSessionInvalid {
				t.Fatalf("the old token after retiring its key: %v", err)
			}
			wantMatch(t, "the re-set cookie works", a.get("/profile").body, `Profile of alice`)
		}},
		{"7. three devices: each sees three; log out other devices ends exactly the two others", func(t *testing.T) {
			var ds []*browser
			for _, ua := range []string{"laptop", "phone", "tablet"} {
				d := newBrowser(t, web.URL, ua+" browser")
				want(t, ua+" login", d.login("carol", "staple-horse").status, 303)
				ds = append(ds, d)
			}
			body := ds[2].get("/profile").body
			want(t, "devices", strings.Count(body, `<li class="device`), 3)
			want(t, "current", strings.Count(body, `class="device current"`), 1)
			r := ds[2].postForm("/profile", "/logout-others", nil)
			want(t, "status", r.status, 200)
			wantMatch(t, "ended", r.body, `<p id="ended">2</p>`)
			for _, d := range ds[:2] {
				want(t, d.ua+" logged out", d.get("/profile").status, 303)
				want(t, d.ua+" cookie cleared", d.token(), "")
			}
			body = ds[2].get("/profile").body
			want(t, "devices left", strings.Count(body, `<li class="device`), 1)
		}},
		{"8. logout: the session ends in sessiond and the cookie is cleared", func(t *testing.T) {
			a.t = t
			token := a.token()
			r := a.postForm("/profile", "/logout", nil)
			want(t, "status", r.status, 303)
			wantMatch(t, "cookie cleared", r.setCookie, `^sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax$`)
			if _, err := verify(token); sessiond.CodeOf(err) != sessiond.CodeSessionInvalid {
				t.Fatalf("after logout: %v", err)
			}
			want(t, "profile", a.get("/profile").status, 303)
			want(t, "logout again", a.post("/logout", url.Values{}).status, 303)
		}},
	}
	bob := newBrowser(t, web.URL, firefox)
	steps = append(steps, []struct {
		name string
		run  func(t *testing.T)
	}{
		{"9. revoked API key: the app answers 500 and keeps the cookie; users stay logged in", func(t *testing.T) {
			bob.t = t
			want(t, "login", bob.login("bob", "battery-staple").status, 303)
			token := bob.token()
			if err := admin.RevokeAPIKey(ctx, appKey.ID); err != nil {
				t.Fatal(err)
			}
			var r reply
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if r = bob.get("/profile"); r.status == 500 {
					break
				}
			}
			want(t, "status", r.status, 500)
			want(t, "Set-Cookie", r.setCookie, "")
			want(t, "login with a revoked key", bob.post("/login", url.Values{"_csrf": {"x"}, "username": {"bob"}, "password": {"battery-staple"}}).status, 500)
			want(t, "cookie", bob.token(), token)
			if v, err := verify(token); err != nil || v.Session.UserID != "bob" {
				t.Fatalf("bob's session: %v", err)
			}
		}},
		{"10. sessiond down: 503 with Retry-After, nobody logged out; back up, the same cookie works", func(t *testing.T) {
			bob.t = t
			key2, err := admin.CreateAPIKey(ctx, "web backend 2", "sessions")
			if err != nil {
				t.Fatal(err)
			}
			app.set(newApp(t, appClient(t, srv, key2.Secret, cached)))
			want(t, "with a new key", bob.get("/profile").status, 200)
			token := bob.token()
			sibling := srv.Sibling(t) // shares the database and Redis: the same sessiond, restarted elsewhere
			srv.App.CloseStreams()    // as sessiond's shutdown does: httptest's Close waits for open requests
			srv.HTTP.Close()
			r := bob.get("/profile")
			want(t, "status while down", r.status, 503)
			if r.header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			want(t, "Set-Cookie while down", r.setCookie, "")
			want(t, "a new visitor while down", newBrowser(t, web.URL, firefox).get("/").status, 503)
			want(t, "cookie", bob.token(), token)
			app.set(newApp(t, mustClient(t, sibling.HTTP.URL, key2.Secret)))
			r = bob.get("/profile")
			want(t, "status when back", r.status, 200)
			wantMatch(t, "page", r.body, `Profile of bob`)
			want(t, "cookie", bob.token(), token)
			if strings.Contains(srv.Logs.String(), token) {
				t.Error("a token in sessiond's logs")
			}
		}},
	}...)
	for _, s := range steps { // later steps reuse the browser; every step runs and reports
		t.Run(s.name, s.run)
	}
}
