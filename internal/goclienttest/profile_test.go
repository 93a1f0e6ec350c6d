package goclienttest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
)

// Session profiles against a real sessiond: a remember-me login through the
// middleware (profile remember_me, a cookie lasting until expires_at), an
// impersonated session created through the client (its actor, in the
// request session too), RevokeImpersonations ending it but not the user's
// own session, and the local cache dropping it (from the change stream when
// another client ended it; at once when this one did).

// profileApp logs in with WithRemember when the form asks, and shows the
// request session's profile and actor.
func profileApp(t *testing.T, client *sessiond.Client) http.Handler {
	m, err := sessiond.NewMiddleware(sessiond.Config{Client: client, Insecure: true, DisableCSRF: true})
	if err != nil {
		t.Fatal(err)
	}
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessiond.FromRequest(r)
		if r.Method == http.MethodPost {
			opts := []sessiond.LoginOption{sessiond.WithAMR("pwd")}
			if r.FormValue("remember") == "1" {
				opts = append(opts, sessiond.WithRemember())
			}
			if err := s.Login(r.Context(), r.FormValue("username"), opts...); err != nil {
				m.Error(w, r, err)
				return
			}
		}
		actor := "-"
		if a := s.Actor(); a != nil {
			actor = a.Type + ":" + a.ID
		}
		w.Write([]byte("user=" + s.UserID + " profile=" + s.Profile() + " actor=" + actor))
	}))
}

// profileCall sends one request to h with the session cookie token ("" for none).
func profileCall(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	var r *http.Request
	if method == http.MethodPost {
		r = httptest.NewRequest(method, path, strings.NewReader(strings.SplitN(path, "?", 2)[1]))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	r.Header.Set("User-Agent", cacheDevice.UserAgent)
	r.RemoteAddr = cacheDevice.IP + ":4711"
	if token != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: token})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sidCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "sid" {
			return c
		}
	}
	t.Fatalf("no sid cookie set (status %d, %s)", w.Code, w.Body)
	return nil
}

func TestRememberMeLogin(t *testing.T) {
	e := newCacheEnv(t)
	ctx := context.Background()
	app := profileApp(t, e.plain)

	// Without a remember_me lifetime in the policy, remember is refused.
	_, err := e.plain.CreateSession(ctx, sessiond.CreateParams{UserID: "alice", Remember: true})
	if se, ok := err.(*sessiond.Error); !ok || se.Code != "invalid_request" || se.HTTPStatus != 400 {
		t.Fatalf("remember without a policy lifetime: %v", err)
	}
	e.adminJSON("PUT", "/v1/policy", func(p map[string]any) {
		p["remember_me"] = map[string]any{"idle_timeout": 86400, "absolute_timeout": 30 * 86400}
	})

	// A plain login: profile standard.
	w := profileCall(app, "POST", "/login?username=alice", "")
	want(t, "standard login", w.Body.String(), "user=alice profile=standard actor=-")
	standard := sidCookie(t, w)

	// A remember-me login (a regenerate of the anonymous session, then a fresh create).
	for _, start := range []string{"regenerate", "create"} {
		token := ""
		if start == "regenerate" {
			anon, err := e.plain.CreateSession(ctx, sessiond.CreateParams{Device: cacheDevice})
			if err != nil {
				t.Fatal(err)
			}
			token = anon.Token
		}
		w = profileCall(app, "POST", "/login?username=alice&remember=1", token)
		want(t, start+": remember-me login", w.Body.String(), "user=alice profile=remember_me actor=-")
		c := sidCookie(t, w)
		v, err := e.plain.Verify(ctx, sessiond.VerifyParams{Token: c.Value})
		if err != nil {
			t.Fatal(err)
		}
		want(t, start+": sessiond's profile", v.Session.Profile, "remember_me")
		if c.Expires.IsZero() || c.Expires.Sub(v.Session.ExpiresAt).Abs() > time.Second {
			t.Fatalf("%s: the cookie expires %v, the session %v", start, c.Expires, v.Session.ExpiresAt)
		}
		if d := v.Session.ExpiresAt.Sub(e.srv.Clock.Now()); d < 29*24*time.Hour {
			t.Fatalf("%s: a remember-me session ends in %v", start, d)
		}
		want(t, start+": a later request", profileCall(app, "GET", "/", c.Value).Body.String(), "user=alice profile=remember_me actor=-")
	}
	if !standard.Expires.IsZero() {
		v, _ := e.plain.Verify(ctx, sessiond.VerifyParams{Token: standard.Value})
		if standard.Expires.Sub(v.Session.ExpiresAt).Abs() > time.Second {
			t.Fatalf("standard cookie expires %v, its session %v", standard.Expires, v.Session.ExpiresAt)
		}
	}
}

func TestImpersonation(t *testing.T) {
	e := newCacheEnv(t)
	ctx := context.Background()
	c := e.cached(e.srv.HTTP.URL)
	app := profileApp(t, c)

	own := e.login(c, "bob")
	actor := &sessiond.Actor{Type: "support", ID: "agent-7"}
	impersonate := func() sessiond.Issued {
		t.Helper()
		s, err := e.plain.CreateSession(ctx, sessiond.CreateParams{UserID: "bob", Actor: actor, Device: cacheDevice})
		if err != nil {
			t.Fatal(err)
		}
		if s.Session.Profile != "impersonation" || s.Session.Actor == nil || *s.Session.Actor != *actor {
			t.Fatalf("impersonated session: profile %q actor %+v", s.Session.Profile, s.Session.Actor)
		}
		// Cached in c: a miss, then a hit (the middleware shows the actor).
		want(t, "the impersonated request", profileCall(app, "GET", "/", s.Token).Body.String(), "user=bob profile=impersonation actor=support:agent-7")
		h := c.CacheStats().Hits
		v, err := c.Verify(ctx, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice})
		if err != nil || v.Session.Actor == nil || *v.Session.Actor != *actor {
			t.Fatalf("cached verify: %+v %v", v.Session, err)
		}
		if c.CacheStats().Hits != h+1 {
			t.Fatalf("not a hit: %+v", c.CacheStats())
		}
		return s
	}
	own2 := profileCall(app, "GET", "/", own.Token).Body.String()
	want(t, "the user's own request", own2, "user=bob profile=standard actor=-")

	// Another client ends the impersonation: the change stream tells c.
	imp := impersonate()
	id := c.CacheStats().LastEventID
	ended, err := e.plain.RevokeImpersonations(ctx, "bob")
	if err != nil || len(ended) != 1 || ended[0] != imp.Session.ID {
		t.Fatalf("RevokeImpersonations: %v %v", ended, err)
	}
	waitFor(t, "the change", func() bool { return c.CacheStats().LastEventID != id })
	h := c.CacheStats().Hits
	if code := verifyCode(c, sessiond.VerifyParams{Token: imp.Token, Device: cacheDevice}); !sessiond.IsSessionEnded(&sessiond.Error{Code: code}) {
		t.Fatalf("the ended impersonation through the cache: %s", code)
	}
	if c.CacheStats().Hits != h {
		t.Fatal("an ended impersonation was a hit")
	}
	// The user's own session is untouched (and still a hit).
	if code := verifyCode(c, sessiond.VerifyParams{Token: own.Token, Device: cacheDevice}); code != "ok" || c.CacheStats().Hits != h+1 {
		t.Fatalf("the user's own session: %s %+v", code, c.CacheStats())
	}

	// c ends one itself: no hit at once, without waiting for the stream.
	imp = impersonate()
	if ended, err := c.RevokeImpersonations(ctx, "bob"); err != nil || len(ended) != 1 {
		t.Fatalf("RevokeImpersonations: %v %v", ended, err)
	}
	h = c.CacheStats().Hits
	if code := verifyCode(c, sessiond.VerifyParams{Token: imp.Token, Device: cacheDevice}); code == "ok" || c.CacheStats().Hits != h {
		t.Fatalf("the ended impersonation right after: %s", code)
	}
	want(t, "the user's own session after", verifyCode(c, sessiond.VerifyParams{Token: own.Token, Device: cacheDevice}), "ok")
	if ended, err := c.RevokeImpersonations(ctx, "bob"); err != nil || len(ended) != 0 {
		t.Fatalf("nothing left to end: %v %v", ended, err)
	}
}
