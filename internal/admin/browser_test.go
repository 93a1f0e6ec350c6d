package admin_test

// Browser tests: the admin UI in headless Chromium (Debian's
// /usr/bin/chromium, driven by chromedp). scripts/test installs Chromium with
// scripts/chromium.sh before it runs them; without Chromium they fail, never
// skip. Screenshots go to a temporary directory, or to docs/screenshots
// when SESSIOND_UPDATE_SCREENSHOTS=1.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/tenants"
)

// chromiumPath is Debian's Chromium, or SESSIOND_CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("SESSIOND_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// newBrowser starts headless Chromium with a fresh profile and returns a
// context for one tab, 1280×800. It fails the test if Chromium is missing.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Chromium is not installed at %s (the browser tests need it): run scripts/chromium.sh, which scripts/test runs first", path)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), // httptest's self-signed certificate
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting Chromium at %s: %v", path, err)
	}
	return ctx
}

// do runs steps with a time limit, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText.slice(0, 1500) : ''"))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, html)
	}
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// submit clicks sel and returns the HTTP status of the page it leads to.
func submit(t *testing.T, ctx context.Context, what, sel string) int64 {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(tctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

// screenshots is where screenshots go.
func screenshots(t *testing.T) string {
	if os.Getenv("SESSIOND_UPDATE_SCREENSHOTS") == "1" {
		dir, _ := filepath.Abs(filepath.Join("..", "..", "docs", "screenshots"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := filepath.Join(os.TempDir(), "sessiond-screenshots")
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noHorizontalOverflow checks that the page fits the viewport's width: the
// phone-width check of every page.
func noHorizontalOverflow(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	over := run(t, ctx, "measure "+page, chromedp.Evaluate[string](`(() => {
		const w = document.documentElement.clientWidth;
		const bad = [];
		if (document.documentElement.scrollWidth > w) bad.push("document " + document.documentElement.scrollWidth + ">" + w);
		for (const el of document.querySelectorAll("main *")) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && r.right > w + 1 && !el.closest(".tabs") && getComputedStyle(el).position !== "absolute" && !el.closest("details.confirm")) {
				bad.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className + " right=" + Math.round(r.right));
				if (bad.length > 5) break;
			}
		}
		return bad.join("; ");
	})()`))
	if over != "" {
		t.Errorf("%s overflows a %s-wide phone screen: %s", page, "390px", over)
	}
}

// seed fills a tenant with users, devices and events that look like a day
// of real traffic, and returns alice's three sessions.
func seed(t *testing.T, e *env, a tenant) []apiSession {
	t.Helper()
	// Long timeouts, so a day of traffic is still live at the end.
	if st := e.api("PUT", "/v1/policy", a.APIKey, map[string]any{"idle_timeout": 43200, "absolute_timeout": 172800,
		"max_sessions_per_user": 1000, "on_limit": "evict_oldest", "rolling": true,
		"binding": map[string]any{"user_agent": "off", "ip": "off"}, "max_data_bytes": 16384}, nil); st != http.StatusOK {
		t.Fatalf("policy: %d", st)
	}
	e.clock.Advance(-20 * time.Hour)
	other := []struct{ user, ua, ip string }{
		{"bob@example.com", devices[2].ua, "192.0.2.44"},
		{"carol", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "198.51.100.23"},
		{"bob@example.com", devices[1].ua, "192.0.2.45"},
		{"dave", devices[0].ua, "203.0.113.99"},
	}
	for h := 0; h < 20; h++ {
		for i := 0; i < (h*7)%5+1; i++ {
			o := other[(h+i)%len(other)]
			s := e.createSession(a.APIKey, o.user, o.ua, o.ip)
			if (h+i)%3 == 0 {
				e.verifies(a.APIKey, s.Token[:len(s.Token)-3]+"AAA")
			}
			if (h+i)%4 == 0 {
				e.api("DELETE", "/v1/sessions/"+s.Session.ID, a.APIKey, nil, nil)
				e.verifies(a.APIKey, s.Token)
			}
		}
		e.clock.Advance(time.Hour)
	}
	var alice []apiSession
	for _, d := range devices {
		alice = append(alice, e.createSession(a.APIKey, "alice", d.ua, d.ip))
		e.clock.Advance(7 * time.Minute)
	}
	e.clock.Advance(40 * time.Minute)
	e.flushEvents()
	return alice
}

func TestBrowserAdminFlows(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerPair: 4, PerIP: 50}})
	a := e.createTenant("Acme Shop")
	e.createTenant("Globex")
	e.createAdmin(a.ID, "ops@acme.example", password)
	e.createAdmin(tenants.SystemTenantID, "root@sessiond.example", password)
	alice := seed(t, e, a)
	ctx := newBrowser(t)
	dir := screenshots(t)
	base := e.srv.URL

	t.Run("an admin signs in", func(t *testing.T) {
		do(t, ctx, "open login", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.ID("login-form")))
		if !strings.Contains(run(t, ctx, "banner", chromedp.Text(chromedp.ID("insecure-banner"))), "plain HTTP") {
			t.Error("no plain-HTTP banner in dev mode")
		}
		shoot(t, ctx, dir, "login")
		do(t, ctx, "fill", chromedp.SendKeys(chromedp.ID("email"), "ops@acme.example"), chromedp.SendKeys(chromedp.ID("password"), password))
		if st := submit(t, ctx, "sign in", "#sign-in"); st != http.StatusOK {
			t.Fatalf("dashboard after sign-in: %d", st)
		}
		do(t, ctx, "dashboard", chromedp.WaitVisible(chromedp.ID("live-sessions")))
		if got := run(t, ctx, "flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, "Welcome back") {
			t.Errorf("flash = %q", got)
		}
		shoot(t, ctx, dir, "dashboard")
	})

	t.Run("the session cookie is HttpOnly, SameSite=Strict and hidden from document.cookie", func(t *testing.T) {
		if dc := run(t, ctx, "document.cookie", chromedp.Evaluate[string]("document.cookie")); strings.Contains(dc, "sessiond_admin") {
			t.Fatalf("document.cookie shows the session cookie: %q", dc)
		}
		ck := browserCookie(t, ctx, base, "sessiond_admin")
		if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Path != "/" || ck.Secure {
			t.Fatalf("dev cookie = %+v", ck)
		}
	})

	t.Run("sessions made through the API for a user on three devices appear", func(t *testing.T) {
		do(t, ctx, "search", chromedp.Navigate(base+"/admin/t/"+a.ID+"/sessions"), chromedp.WaitVisible(chromedp.ID("sessions-table")))
		shoot(t, ctx, dir, "sessions-all")
		do(t, ctx, "type alice", chromedp.SendKeys(chromedp.ID("user_id"), "alice"))
		if st := submit(t, ctx, "search", `form[role="search"] button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("search answered %d", st)
		}
		do(t, ctx, "alice's rows", chromedp.WaitVisible(chromedp.CSS(`tr[data-session-id="`+alice[0].Session.ID+`"]`)))
		rows := run(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#sessions-table tbody tr").length`))
		if rows != 3 {
			t.Fatalf("alice has %d rows, want 3", rows)
		}
		text := run(t, ctx, "table", chromedp.Text(chromedp.ID("sessions-table")))
		for _, want := range []string{"Chrome 126 on macOS", "Firefox 127 on Windows", devices[0].ip, devices[1].ip, "2001:db8::1", "min ago"} {
			if !strings.Contains(text, want) {
				t.Errorf("sessions table lacks %q:\n%s", want, text)
			}
		}
		shoot(t, ctx, dir, "sessions")
	})

	t.Run("log out other devices leaves exactly the chosen session alive", func(t *testing.T) {
		keep := alice[1].Session.ID
		row := `tr[data-session-id="` + keep + `"] `
		do(t, ctx, "open the confirmation", chromedp.Click(chromedp.CSS(row+`summary[data-action="logout-others"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(row+`details[open] .confirm-box button`)))
		shoot(t, ctx, dir, "confirm-logout-others")
		if st := submit(t, ctx, "confirm", row+`details[open] .confirm-box button`); st != http.StatusOK {
			t.Fatalf("after log out others: %d", st)
		}
		if got := run(t, ctx, "flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, "Logged out 2 other session(s)") {
			t.Errorf("flash = %q", got)
		}
		for i, s := range alice {
			if got := e.verifies(a.APIKey, s.Token); got != (i == 1) {
				t.Errorf("alice's session %d verifies = %v (kept: 1)", i, got)
			}
		}
	})

	t.Run("a policy edit round-trips, with a field error first", func(t *testing.T) {
		do(t, ctx, "policy", chromedp.Navigate(base+"/admin/t/"+a.ID+"/policy"), chromedp.WaitVisible(chromedp.ID("policy-form")),
			chromedp.Clear(chromedp.ID("idle_timeout")), chromedp.SendKeys(chromedp.ID("idle_timeout"), "999999"))
		if st := submit(t, ctx, "save", "#save-policy"); st != http.StatusBadRequest {
			t.Fatalf("invalid policy answered %d", st)
		}
		msg := run(t, ctx, "field error", chromedp.Text(chromedp.ID("idle_timeout-error")))
		if !strings.Contains(msg, "must not exceed absolute_timeout") {
			t.Fatalf("field error = %q", msg)
		}
		shoot(t, ctx, dir, "policy-error")
		do(t, ctx, "fix", chromedp.Clear(chromedp.ID("idle_timeout")), chromedp.SendKeys(chromedp.ID("idle_timeout"), "900"),
			chromedp.Clear(chromedp.ID("max_sessions_per_user")), chromedp.SendKeys(chromedp.ID("max_sessions_per_user"), "5"))
		if st := submit(t, ctx, "save", "#save-policy"); st != http.StatusOK {
			t.Fatalf("valid policy answered %d", st)
		}
		if got := run(t, ctx, "flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, "Policy saved") {
			t.Errorf("flash = %q", got)
		}
		var pol struct {
			IdleTimeout        int `json:"idle_timeout"`
			MaxSessionsPerUser int `json:"max_sessions_per_user"`
		}
		e.api("GET", "/v1/policy", a.APIKey, nil, &pol)
		if pol.IdleTimeout != 900 || pol.MaxSessionsPerUser != 5 {
			t.Fatalf("policy through the API = %+v", pol)
		}
		shoot(t, ctx, dir, "policy")
	})

	t.Run("key rotation", func(t *testing.T) {
		do(t, ctx, "keys", chromedp.Navigate(base+"/admin/t/"+a.ID+"/keys"), chromedp.WaitVisible(chromedp.ID("keys-table")),
			chromedp.Click(chromedp.CSS(`summary[data-action="rotate"]`)), chromedp.WaitVisible(chromedp.ID("confirm-rotate")))
		if st := submit(t, ctx, "rotate", "#confirm-rotate"); st != http.StatusOK {
			t.Fatalf("rotate answered %d", st)
		}
		var keys struct {
			Keys []struct{ Kid, State string } `json:"keys"`
		}
		e.api("GET", "/v1/keys", a.APIKey, nil, &keys)
		if len(keys.Keys) != 2 || keys.Keys[0].State != "active" || keys.Keys[1].State != "retiring" {
			t.Fatalf("keys through the API = %+v", keys)
		}
		if got := run(t, ctx, "flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, keys.Keys[0].Kid) {
			t.Errorf("flash = %q", got)
		}
		if !e.verifies(a.APIKey, alice[1].Token) {
			t.Error("rotation logged a user out")
		}
		shoot(t, ctx, dir, "keys")
	})

	t.Run("an impersonation shows on the user's page and ends alone", func(t *testing.T) {
		acting := e.createSessionWith(a.APIKey, "alice", map[string]any{"actor": map[string]any{"type": "support", "id": "agent-7"}})
		e.createSessionWith(a.APIKey, "bob@example.com", map[string]any{"actor": map[string]any{"type": "admin", "id": "root"}}) // for the phone check
		row := `tr[data-session-id="` + acting.Session.ID + `"]`
		do(t, ctx, "alice's page", chromedp.Navigate(base+"/admin/t/"+a.ID+"/users/alice"), chromedp.WaitVisible(chromedp.CSS(row)))
		if got := run(t, ctx, "row", chromedp.Text(chromedp.CSS(row))); !strings.Contains(got, "Impersonated by support agent-7") || !strings.Contains(got, "AAL 1") {
			t.Errorf("the impersonated row reads %q", got)
		}
		do(t, ctx, "open the confirmation", chromedp.Click(chromedp.CSS(`summary[data-action="end-impersonations"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.ID("confirm-end-impersonations")))
		shoot(t, ctx, dir, "confirm-end-impersonations")
		if st := submit(t, ctx, "confirm", "#confirm-end-impersonations"); st != http.StatusOK {
			t.Fatalf("after ending impersonations: %d", st)
		}
		if got := run(t, ctx, "flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, "Ended 1 impersonated session(s)") {
			t.Errorf("flash = %q", got)
		}
		if n := run(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#sessions-table tr[data-impersonated]").length`)); n != 0 {
			t.Errorf("%d impersonated rows remain", n)
		}
		if e.verifies(a.APIKey, acting.Token) {
			t.Error("the impersonated session still verifies")
		}
		if !e.verifies(a.APIKey, alice[1].Token) {
			t.Error("ending impersonations ended alice's own session")
		}
	})

	t.Run("the other pages render", func(t *testing.T) {
		for _, p := range []struct{ path, wait, name string }{
			{"/admin/t/" + a.ID + "/api-keys", "apikeys-table", "api-keys"},
			{"/admin/t/" + a.ID + "/events", "events-table", "events"},
			// alice: the policy edit above (idle 15 min) ended bob's older
			// sessions, and every page reads the deadlines verify applies.
			{"/admin/t/" + a.ID + "/users/alice", "sessions-table", "user"},
			{"/admin/account", "my-sessions", "account"},
		} {
			do(t, ctx, p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.ID(p.wait)))
			shoot(t, ctx, dir, p.name)
		}
	})

	t.Run("every page fits a phone's width", func(t *testing.T) {
		do(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		defer do(t, ctx, "laptop", chromedp.EmulateViewport(1280, 800))
		for _, p := range []struct{ path, name string }{
			{"/admin/t/" + a.ID + "/", "dashboard"},
			{"/admin/t/" + a.ID + "/sessions?user_id=bob@example.com", "sessions"},
			{"/admin/t/" + a.ID + "/sessions", ""},
			{"/admin/t/" + a.ID + "/users/bob@example.com", ""},
			{"/admin/t/" + a.ID + "/policy", "policy"},
			{"/admin/t/" + a.ID + "/keys", ""},
			{"/admin/t/" + a.ID + "/api-keys", ""},
			{"/admin/t/" + a.ID + "/events", ""},
			{"/admin/account", ""},
		} {
			do(t, ctx, "open "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.ID("main")))
			noHorizontalOverflow(t, ctx, p.path)
			if p.name != "" {
				shoot(t, ctx, dir, "phone-"+p.name)
			}
		}
	})

	t.Run("an operator sees the tenants and a tenant's admins", func(t *testing.T) {
		do(t, ctx, "sign out", chromedp.Navigate(base+"/admin/account"), chromedp.WaitVisible(chromedp.ID("my-sessions")))
		if st := submit(t, ctx, "sign out", `form[action="/admin/logout"] button`); st != http.StatusOK {
			t.Fatalf("sign out: %d", st)
		}
		do(t, ctx, "operator", chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SendKeys(chromedp.ID("email"), "root@sessiond.example"), chromedp.SendKeys(chromedp.ID("password"), password))
		submit(t, ctx, "sign in", "#sign-in")
		do(t, ctx, "tenants", chromedp.WaitVisible(chromedp.ID("tenants-table")))
		text := run(t, ctx, "tenants", chromedp.Text(chromedp.ID("tenants-table")))
		if !strings.Contains(text, "Acme Shop") || !strings.Contains(text, "Globex") {
			t.Fatalf("tenants table = %q", text)
		}
		shoot(t, ctx, dir, "tenants")
		do(t, ctx, "admins", chromedp.Navigate(base+"/admin/t/"+a.ID+"/admins"), chromedp.WaitVisible(chromedp.ID("admins-table")))
		shoot(t, ctx, dir, "admins")
	})

	t.Run("a wrong password repeated ends in 429", func(t *testing.T) {
		do(t, ctx, "sign out", chromedp.Navigate(base+"/admin/account"), chromedp.WaitVisible(chromedp.ID("my-sessions")))
		submit(t, ctx, "sign out", `form[action="/admin/logout"] button`)
		var statuses []int64
		for i := 0; i < 8; i++ {
			do(t, ctx, "login form", chromedp.WaitVisible(chromedp.ID("login-form")), chromedp.Clear(chromedp.ID("email")),
				chromedp.SendKeys(chromedp.ID("email"), "ops@acme.example"), chromedp.SendKeys(chromedp.ID("password"), fmt.Sprintf("wrong password %d", i)))
			st := submit(t, ctx, "wrong password", "#sign-in")
			statuses = append(statuses, st)
			if st == http.StatusTooManyRequests {
				break
			}
			if st != http.StatusUnauthorized {
				t.Fatalf("wrong password %d answered %d", i, st)
			}
		}
		if statuses[len(statuses)-1] != http.StatusTooManyRequests || len(statuses) != 5 {
			t.Fatalf("statuses = %v, want 4 × 401 then 429", statuses)
		}
		if got := run(t, ctx, "error", chromedp.Text(chromedp.ID("login-error"))); !strings.Contains(got, "Too many failed sign-in attempts") {
			t.Errorf("429 page says %q", got)
		}
		shoot(t, ctx, dir, "rate-limited")
	})
}

// TestBrowserCookieOverTLS signs in over HTTPS and checks the cookie as the
// browser stored it: __Host- prefix, Secure, HttpOnly, SameSite=Strict,
// Path=/, no Domain, invisible to document.cookie.
func TestBrowserCookieOverTLS(t *testing.T) {
	e := newEnv(t, envOptions{tls: true})
	a := e.createTenant("Acme Shop")
	e.createAdmin(a.ID, "ops@acme.example", password)
	ctx := newBrowser(t)
	base := e.srv.URL
	do(t, ctx, "login", chromedp.Navigate(base+"/admin/login"), chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("email"), "ops@acme.example"), chromedp.SendKeys(chromedp.ID("password"), password))
	if st := submit(t, ctx, "sign in", "#sign-in"); st != http.StatusOK {
		t.Fatalf("sign in over TLS: %d", st)
	}
	do(t, ctx, "dashboard", chromedp.WaitVisible(chromedp.ID("live-sessions")))
	if n := run(t, ctx, "banner", chromedp.Evaluate[int](`document.querySelectorAll("#insecure-banner").length`)); n != 0 {
		t.Error("the plain-HTTP banner shows over TLS")
	}
	ck := browserCookie(t, ctx, base, "__Host-sessiond_admin")
	if !ck.Secure || !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Path != "/" || strings.HasPrefix(ck.Domain, ".") {
		t.Fatalf("cookie = %+v", ck)
	}
	if dc := run(t, ctx, "document.cookie", chromedp.Evaluate[string]("document.cookie")); strings.Contains(dc, "sessiond_admin") {
		t.Fatalf("document.cookie shows the session cookie: %q", dc)
	}
}

func browserCookie(t *testing.T, ctx context.Context, base, name string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/admin/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("the browser holds no cookie %s (it has %d others)", name, len(res.Cookies))
	return nil
}
