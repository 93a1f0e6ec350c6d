package goclienttest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
	"github.com/sessiond/sessiond/internal/apptest"
)

// Session assurance against a real sessiond: factors (amr), the assurance
// level, step_up_required with what is missing, StepUp, RequireAAL and
// RequireFactor, with and without the local cache. The server's clock is
// the test's (no real sleeps).

// TestStepUpRequiredNamesWhatIsMissing: a pwd session verified with min_aal
// 2 or max_factor_age otp is step_up_required, and the Error says what to prove.
func TestStepUpRequiredNamesWhatIsMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx := context.Background()
	srv := apptest.Start(t, apptest.Options{})
	c := mustClient(t, srv.HTTP.URL, srv.CreateTenant(t, "go step-up").APIKey)

	s, err := c.CreateSession(ctx, sessiond.CreateParams{UserID: "alice", AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Session.AAL != 1 || len(s.Session.AMR) != 1 || s.Session.AMR[0].Method != "pwd" || s.Session.AMR[0].At.IsZero() {
		t.Fatalf("a pwd login: aal %d, amr %+v", s.Session.AAL, s.Session.AMR)
	}
	_, err = c.Verify(ctx, sessiond.VerifyParams{Token: s.Token, MinAAL: 2})
	var se *sessiond.Error
	if !errors.As(err, &se) || se.Code != sessiond.CodeStepUpRequired || se.HTTPStatus != 403 {
		t.Fatalf("min_aal 2 on a pwd session: %v", err)
	}
	if want := (&sessiond.StepUp{AAL: 2, HaveAAL: 1, Factors: []string{}}); !reflect.DeepEqual(se.StepUp, want) || !reflect.DeepEqual(sessiond.StepUpOf(err), want) {
		t.Fatalf("step_up: %+v, want %+v", se.StepUp, want)
	}
	if sessiond.IsSessionEnded(err) || sessiond.HTTPStatus(err) != 403 {
		t.Fatalf("a step-up ends nothing and is a 403 for the browser: %v", err)
	}
	_, err = c.Verify(ctx, sessiond.VerifyParams{Token: s.Token, MaxFactorAge: map[string]int{"otp": 300, "pwd": 300}})
	if su := sessiond.StepUpOf(err); su == nil || su.AAL != 1 || su.HaveAAL != 1 || !reflect.DeepEqual(su.Factors, []string{"otp"}) {
		t.Fatalf("max_factor_age otp on a pwd session: %v %+v", err, su)
	}
	if sessiond.StepUpOf(errors.New("other")) != nil {
		t.Fatal("StepUpOf of another error")
	}
	// Refused checks do not end the session; the plain verify still passes.
	if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: s.Token}); err != nil {
		t.Fatal(err)
	}
}

// stepUpApp is an app with a pwd login, an otp step-up, a page that needs
// AAL 2 and one that needs an otp at most 5 minutes old.
func stepUpApp(t *testing.T, client *sessiond.Client) http.Handler {
	m, err := sessiond.NewMiddleware(sessiond.Config{Client: client, Insecure: true, DisableCSRF: true})
	if err != nil {
		t.Fatal(err)
	}
	handle := func(h func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r, sessiond.FromRequest(r)); err != nil {
				m.Error(w, r, err)
			}
		})
	}
	refuse := func(what string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, what, http.StatusForbidden)
		})
	}
	whoami := func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		var methods []string
		for _, f := range s.AMR() {
			methods = append(methods, f.Method)
		}
		fmt.Fprintf(w, "user=%s aal=%d amr=%s", s.UserID, s.AAL(), strings.Join(methods, ","))
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /whoami", handle(whoami))
	mux.Handle("POST /login", handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		if err := s.Login(r.Context(), r.PostFormValue("username"), sessiond.WithAMR("pwd")); err != nil {
			return err
		}
		return whoami(w, r, s)
	}))
	mux.Handle("POST /otp", handle(func(w http.ResponseWriter, r *http.Request, s *sessiond.RequestSession) error {
		if r.PostFormValue("code") != "123456" {
			http.Error(w, "wrong code", http.StatusUnauthorized)
			return nil
		}
		if err := s.StepUp(r.Context(), "otp"); err != nil {
			return err
		}
		return whoami(w, r, s)
	}))
	mux.Handle("GET /admin", m.RequireAAL(2, refuse("step up to AAL 2"))(handle(whoami)))
	mux.Handle("GET /transfer", m.RequireFactor("otp", 5*time.Minute, refuse("enter a fresh otp"))(handle(whoami)))
	mux.Handle("GET /recent", m.RequireRecentAuth(time.Hour, refuse("log in again"))(handle(whoami)))
	return m.Handler(mux)
}

func TestStepUpMiddleware(t *testing.T)       { runStepUpMiddleware(t, false) }
func TestStepUpMiddlewareCached(t *testing.T) { runStepUpMiddleware(t, true) }

func runStepUpMiddleware(t *testing.T, cached bool) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	ctx := context.Background()
	srv := apptest.Start(t, apptest.Options{})
	key := srv.CreateTenant(t, "go step-up middleware").APIKey
	admin := mustClient(t, srv.HTTP.URL, key)
	appC := appClient(t, srv, key, cached)
	web := httptest.NewServer(stepUpApp(t, appC))
	t.Cleanup(web.Close)
	b := newBrowser(t, web.URL, "step-up browser")

	r := b.post("/login", url.Values{"username": {"alice"}})
	want(t, "login", r.status, 200)
	want(t, "after a pwd login", r.body, "user=alice aal=1 amr=pwd")
	pwdToken := b.token()
	want(t, "AAL 2 page with a pwd session", b.get("/admin").status, 403)
	r = b.get("/transfer")
	want(t, "otp page without an otp", r.status, 403)
	wantMatch(t, "refusal", r.body, "enter a fresh otp")
	want(t, "cookie kept", b.token(), pwdToken)

	want(t, "a wrong otp", b.post("/otp", url.Values{"code": {"000000"}}).status, 401)
	r = b.post("/otp", url.Values{"code": {"123456"}})
	want(t, "step-up", r.status, 200)
	want(t, "after the step-up", r.body, "user=alice aal=2 amr=pwd,otp")
	if b.token() == pwdToken || b.token() == "" {
		t.Fatal("StepUp did not issue a new cookie")
	}
	if _, err := admin.Verify(ctx, sessiond.VerifyParams{Token: pwdToken}); !sessiond.IsSessionEnded(err) {
		t.Fatalf("the pre-step-up token: %v", err)
	}
	v, err := admin.Verify(ctx, sessiond.VerifyParams{Token: b.token(), MinAAL: 2, MaxFactorAge: map[string]int{"otp": 300}})
	if err != nil || v.Session.AAL != 2 || len(v.Session.AMR) != 2 {
		t.Fatalf("sessiond's view after the step-up: %+v %v", v.Session, err)
	}
	for _, p := range []string{"/admin", "/transfer", "/recent"} {
		r = b.get(p)
		want(t, p+" after the step-up", r.status, 200)
		want(t, p+" page", r.body, "user=alice aal=2 amr=pwd,otp")
	}

	// The otp goes stale on sessiond's clock: AAL 2 stays, the otp page refuses.
	srv.Clock.Advance(5*time.Minute + time.Second)
	want(t, "/admin with a stale otp", b.get("/admin").status, 200)
	r = b.get("/transfer")
	want(t, "/transfer with a stale otp", r.status, 403)
	wantMatch(t, "refusal", r.body, "enter a fresh otp")
	want(t, "a refusal keeps the cookie", r.setCookie, "")
	want(t, "a fresh otp", b.post("/otp", url.Values{"code": {"123456"}}).status, 200)
	want(t, "/transfer with the fresh otp", b.get("/transfer").status, 200)

	// Anonymous sessions never pass, and StepUp needs a login.
	anon := newBrowser(t, web.URL, "anonymous browser")
	want(t, "anonymous /admin", anon.get("/admin").status, 403)
	want(t, "anonymous /transfer", anon.get("/transfer").status, 403)
	want(t, "anonymous step-up", anon.post("/otp", url.Values{"code": {"123456"}}).status, 500)
}

// TestStepUpCache: hits apply the call's MinAAL and MaxFactorAge and the
// policy's min_aal; a cached session short of them goes to sessiond, which
// answers step_up_required.
func TestStepUpCache(t *testing.T) {
	e := newCacheEnv(t)
	c := e.cached(e.srv.HTTP.URL)
	ctx := context.Background()
	stats := func() (uint64, uint64) { s := c.CacheStats(); return s.Hits, s.Misses }

	// A call's MinAAL on a cached aal-1 session.
	s := e.login(c, "aal1")
	h, m := stats()
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice, MinAAL: 2}); code != sessiond.CodeStepUpRequired {
		t.Fatalf("MinAAL 2 on a cached aal-1 session: %s", code)
	}
	if h2, m2 := stats(); h2 != h || m2 != m+1 {
		t.Fatalf("MinAAL 2 on an aal-1 session must go to sessiond: hits %d→%d, misses %d→%d", h, h2, m, m2)
	}

	// A call's MaxFactorAge on a cached pwd+otp session, on the cache's
	// (sessiond's) clock. The clock moves 2 s, less than the three
	// heartbeats after which the cache stops serving hits.
	two, err := e.plain.CreateSession(ctx, sessiond.CreateParams{UserID: "aal2", Device: cacheDevice, AMR: []string{"pwd", "otp"}})
	if err != nil {
		t.Fatal(err)
	}
	otp := func(maxAge int) sessiond.VerifyParams {
		return sessiond.VerifyParams{Token: two.Token, Device: cacheDevice, MinAAL: 2, MaxFactorAge: map[string]int{"otp": maxAge}}
	}
	if code := verifyCode(c, otp(1)); code != "ok" {
		t.Fatal(code)
	}
	h, _ = stats()
	if code := verifyCode(c, otp(1)); code != "ok" {
		t.Fatal(code)
	}
	if h2, _ := stats(); h2 != h+1 {
		t.Fatalf("a fresh otp on a cached aal-2 session is a hit: %+v", c.CacheStats())
	}
	_, m = stats()
	if code := verifyCode(c, sessiond.VerifyParams{Token: two.Token, Device: cacheDevice, MaxFactorAge: map[string]int{"hwk": 300}}); code != sessiond.CodeStepUpRequired {
		t.Fatalf("a method the session lacks: %s", code)
	}
	if _, m2 := stats(); m2 != m+1 {
		t.Fatalf("a method the session lacks must go to sessiond: %+v", c.CacheStats())
	}
	if code := verifyCode(c, otp(1)); code != "ok" { // cached again
		t.Fatal(code)
	}
	e.srv.Clock.Advance(2 * time.Second)
	h, _ = stats()
	if code := verifyCode(c, otp(5)); code != "ok" {
		t.Fatal(code)
	}
	if h2, _ := stats(); h2 != h+1 {
		t.Fatalf("an otp 2 s old, 5 s allowed, is a hit: %+v", c.CacheStats())
	}
	_, m = stats()
	_, err = c.Verify(ctx, otp(1))
	if su := sessiond.StepUpOf(err); su == nil || su.HaveAAL != 2 || !reflect.DeepEqual(su.Factors, []string{"otp"}) {
		t.Fatalf("an otp 2 s old, 1 s allowed: %v %+v", err, su)
	}
	if _, m2 := stats(); m2 != m+1 {
		t.Fatalf("a stale otp must go to sessiond: %+v", c.CacheStats())
	}

	// The policy's min_aal 2: an aal-1 session is refused through sessiond, an aal-2 one still hits.
	s = e.login(c, "policy-aal1")
	two, err = e.plain.CreateSession(ctx, sessiond.CreateParams{UserID: "policy-aal2", Device: cacheDevice, AMR: []string{"pwd", "hwk"}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.CacheStats().LastEventID
	e.adminJSON("PUT", "/v1/policy", func(p map[string]any) { p["min_aal"] = 2 })
	waitFor(t, "the policy change", func() bool { return c.CacheStats().LastEventID != id })
	for range 2 {
		_, m = stats()
		_, err = c.Verify(ctx, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice})
		if su := sessiond.StepUpOf(err); su == nil || su.AAL != 2 || su.HaveAAL != 1 {
			t.Fatalf("an aal-1 session under min_aal 2: %v", err)
		}
		if _, m2 := stats(); m2 != m+1 {
			t.Fatalf("an aal-1 session under min_aal 2 must go to sessiond: %+v", c.CacheStats())
		}
	}
	plain := sessiond.VerifyParams{Token: two.Token, Device: cacheDevice}
	if code := verifyCode(c, plain); code != "ok" {
		t.Fatalf("an aal-2 session under min_aal 2: %s", code)
	}
	h, _ = stats()
	if code := verifyCode(c, plain); code != "ok" {
		t.Fatal(code)
	}
	if h2, _ := stats(); h2 != h+1 {
		t.Fatalf("an aal-2 session under min_aal 2 is a hit: %+v", c.CacheStats())
	}
	e.adminJSON("PUT", "/v1/policy", func(p map[string]any) { p["min_aal"] = 1 })
}
