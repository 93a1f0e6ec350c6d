package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type sessionOut struct {
	ID            string         `json:"id"`
	UserID        string         `json:"user_id"`
	AuthTime      *time.Time     `json:"auth_time"`
	ExpiresAt     time.Time      `json:"expires_at"`
	IdleExpiresAt time.Time      `json:"idle_expires_at"`
	LastSeenAt    time.Time      `json:"last_seen_at"`
	Data          map[string]any `json:"data"`
	Version       int64          `json:"version"`
	Device        struct {
		UserAgent string `json:"user_agent"`
		IP        string `json:"ip"`
		Label     string `json:"label"`
	} `json:"device"`
}

type issued struct {
	Token     string     `json:"token"`
	CSRFToken string     `json:"csrf_token"`
	Session   sessionOut `json:"session"`
	Evicted   []string   `json:"evicted"`
}

type verified struct {
	Session         sessionOut `json:"session"`
	Token           string     `json:"token"`
	CSRFToken       string     `json:"csrf_token"`
	BindingMismatch []string   `json:"binding_mismatch"`
}

func (e *env) createSession(key string, body map[string]any) issued {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/sessions", token: key, body: body})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create session: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("create is cacheable: %q", r.Header.Get("Cache-Control"))
	}
	var out issued
	r.decode(e.t, &out)
	return out
}

func (e *env) verify(key, token string, extra map[string]any) resp {
	e.t.Helper()
	body := map[string]any{"token": token}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do(req{method: "POST", path: "/v1/sessions/verify", token: key, body: body})
	if r.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("verify answered %d without Cache-Control: no-store", r.Status)
	}
	return r
}

func (e *env) putPolicy(key string, change func(map[string]any)) {
	e.t.Helper()
	p := map[string]any{
		"idle_timeout": 1800, "absolute_timeout": 28800, "max_sessions_per_user": 1000,
		"on_limit": "evict_oldest", "rolling": true,
		"binding": map[string]any{"user_agent": "off", "ip": "off"}, "max_data_bytes": 16384,
	}
	change(p)
	if r := e.do(req{method: "PUT", path: "/v1/policy", token: key, body: p}); r.Status != http.StatusOK {
		e.t.Fatalf("put policy: %d %s", r.Status, r.Body)
	}
}

// The seed tutorial's whole flow, done through the API.
func TestTheSeedFlowOverHTTP(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")

	// Anonymous visit counter.
	anon := e.createSession(a.APIKey, map[string]any{"data": map[string]any{"views": 1},
		"device": map[string]any{"user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", "ip": "203.0.113.7"}})
	if anon.Session.UserID != "" || anon.Session.AuthTime != nil || anon.Session.Data["views"] != float64(1) {
		t.Fatalf("anonymous session = %+v", anon.Session)
	}
	r := e.do(req{method: "PATCH", path: "/v1/sessions/" + anon.Session.ID, token: a.APIKey, body: `{"views": 2}`,
		contentType: "application/merge-patch+json", header: map[string]string{"If-Match": `"` + fmt.Sprint(anon.Session.Version) + `"`}})
	if r.Status != http.StatusOK || r.Header.Get("ETag") == "" {
		t.Fatalf("patch = %d %s", r.Status, r.Body)
	}
	if r := e.do(req{method: "PATCH", path: "/v1/sessions/" + anon.Session.ID, token: a.APIKey, body: `{"views": 3}`,
		header: map[string]string{"If-Match": `"` + fmt.Sprint(anon.Session.Version) + `"`}}); r.Status != http.StatusPreconditionFailed || r.code(t) != "version_conflict" {
		t.Fatalf("stale If-Match = %d %s", r.Status, r.Body)
	}

	// Login: regenerate with the user id. The old token dies at once.
	r = e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": anon.Token, "user_id": "alice"}})
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("regenerate = %d %v %s", r.Status, r.Header, r.Body)
	}
	var login issued
	r.decode(t, &login)
	if login.Session.ID == anon.Session.ID || login.Token == anon.Token || login.CSRFToken == anon.CSRFToken {
		t.Fatalf("regenerate kept an identifier")
	}
	if login.Session.UserID != "alice" || login.Session.AuthTime == nil || login.Session.Data["views"] != float64(2) {
		t.Fatalf("logged-in session = %+v", login.Session)
	}
	if !login.Session.ExpiresAt.Equal(anon.Session.ExpiresAt) {
		t.Fatalf("regenerate moved the absolute deadline from %v to %v", anon.Session.ExpiresAt, login.Session.ExpiresAt)
	}
	if r := e.verify(a.APIKey, anon.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
		t.Fatalf("old token after login = %d %s", r.Status, r.Body)
	}

	// Profile: verify with the CSRF token; a wrong one is refused.
	if r := e.verify(a.APIKey, login.Token, map[string]any{"csrf_token": login.CSRFToken}); r.Status != http.StatusOK {
		t.Fatalf("verify = %d %s", r.Status, r.Body)
	}
	if r := e.verify(a.APIKey, login.Token, map[string]any{"csrf_token": anon.CSRFToken}); r.Status != http.StatusForbidden || r.code(t) != "csrf_mismatch" {
		t.Fatalf("stale CSRF token = %d %s", r.Status, r.Body)
	}

	// A sensitive action needs a recent login.
	e.clock.Advance(10 * time.Minute)
	if r := e.verify(a.APIKey, login.Token, map[string]any{"max_auth_age": 300}); r.Status != http.StatusForbidden || r.code(t) != "reauth_required" {
		t.Fatalf("stale auth = %d %s", r.Status, r.Body)
	}
	r = e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": login.Token, "reauthenticated": true}})
	var reauth issued
	r.decode(t, &reauth)
	if r := e.verify(a.APIKey, reauth.Token, map[string]any{"max_auth_age": 300}); r.Status != http.StatusOK {
		t.Fatalf("after re-authentication = %d %s", r.Status, r.Body)
	}

	// Logout.
	if r := e.do(req{method: "DELETE", path: "/v1/sessions/" + reauth.Session.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("logout = %d", r.Status)
	}
	if r := e.verify(a.APIKey, reauth.Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("after logout = %d", r.Status)
	}
	if r := e.do(req{method: "GET", path: "/v1/sessions/" + reauth.Session.ID, token: a.APIKey}); r.Status != http.StatusNotFound {
		t.Fatalf("get after logout = %d", r.Status)
	}

	// Every step is a security event, with the public id and never a token.
	e.flushEvents()
	r = e.do(req{method: "GET", path: "/v1/events?user_id=alice", token: a.APIKey})
	body := string(r.Body)
	for _, typ := range []string{"session.regenerated", "verify.csrf_mismatch", "verify.reauth_required", "session.revoked"} {
		if !strings.Contains(body, `"`+typ+`"`) {
			t.Errorf("no %s event for alice", typ)
		}
	}
	for _, tok := range []string{anon.Token, login.Token, reauth.Token} {
		if strings.Contains(body, tok) || strings.Contains(e.logs.String(), tok) {
			t.Fatalf("a token is in the events or logs")
		}
	}
}

func TestIdleAndAbsoluteExpiryOverHTTP(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["idle_timeout"] = 600; p["absolute_timeout"] = 1800 })

	s := e.createSession(a.APIKey, map[string]any{"user_id": "bob"})
	for range 5 { // activity every 5 min keeps it alive, until the absolute deadline
		e.clock.Advance(5 * time.Minute)
		if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("verify within idle = %d %s", r.Status, r.Body)
		}
	}
	e.clock.Advance(5 * time.Minute)
	if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_expired_absolute" {
		t.Fatalf("at the absolute deadline = %d %s", r.Status, r.Body)
	}

	idle := e.createSession(a.APIKey, map[string]any{"user_id": "bob"})
	e.clock.Advance(10*time.Minute + time.Second)
	if r := e.verify(a.APIKey, idle.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_expired_idle" {
		t.Fatalf("after idle = %d %s", r.Status, r.Body)
	}

	short := e.createSession(a.APIKey, map[string]any{"idle_timeout": 60})
	if short.Session.IdleExpiresAt.Sub(e.clock.Now()) != time.Minute {
		t.Fatalf("per-session idle timeout not applied: %v", short.Session.IdleExpiresAt)
	}
	if r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"absolute_timeout": 3600}}); r.Status != http.StatusBadRequest {
		t.Fatalf("lengthening the absolute timeout = %d %s", r.Status, r.Body)
	}
}

func TestDeviceCapsAndLoggingOutOtherDevices(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 3 })

	var devices []issued
	for i := range 3 {
		devices = append(devices, e.createSession(a.APIKey, map[string]any{"user_id": "carol",
			"device": map[string]any{"user_agent": fmt.Sprintf("device-%d", i), "ip": fmt.Sprintf("198.51.100.%d", i+1)}}))
		e.clock.Advance(time.Second)
	}
	fourth := e.createSession(a.APIKey, map[string]any{"user_id": "carol"})
	if len(fourth.Evicted) != 1 || fourth.Evicted[0] != devices[0].Session.ID {
		t.Fatalf("evicted = %v, want the first device %s", fourth.Evicted, devices[0].Session.ID)
	}
	if r := e.verify(a.APIKey, devices[0].Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("evicted device still verifies: %d", r.Status)
	}

	var list struct {
		Sessions []sessionOut `json:"sessions"`
	}
	e.do(req{method: "GET", path: "/v1/users/carol/sessions", token: a.APIKey}).decode(t, &list)
	if len(list.Sessions) != 3 || list.Sessions[0].Device.UserAgent != "device-1" || list.Sessions[0].Device.IP != "198.51.100.2" {
		t.Fatalf("carol's devices = %+v", list.Sessions)
	}

	keep := devices[2]
	r := e.do(req{method: "DELETE", path: "/v1/users/carol/sessions?except=" + keep.Session.ID, token: a.APIKey})
	var revoked struct {
		Revoked []string `json:"revoked"`
		Count   int      `json:"count"`
	}
	r.decode(t, &revoked)
	if r.Status != http.StatusOK || len(revoked.Revoked) != 2 || revoked.Count != 2 {
		t.Fatalf("log out other devices = %d %s", r.Status, r.Body)
	}
	for _, s := range []issued{devices[1], fourth} {
		if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("another device survived: %d", r.Status)
		}
	}
	if r := e.verify(a.APIKey, keep.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("the kept device = %d", r.Status)
	}
	e.do(req{method: "DELETE", path: "/v1/users/carol/sessions", token: a.APIKey})
	if r := e.verify(a.APIKey, keep.Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("log out everywhere left %d", r.Status)
	}

	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 1; p["on_limit"] = "reject" })
	e.createSession(a.APIKey, map[string]any{"user_id": "dave"})
	if r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "dave"}}); r.Status != http.StatusConflict || r.code(t) != "session_limit_reached" {
		t.Fatalf("over the cap with reject = %d %s", r.Status, r.Body)
	}
}

// A user with more sessions than a response lists: every one ends at once,
// count says how many, revoked lists the first 100.
func TestLoggingOutEverywhereAUserWithManySessions(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 1000 })
	var all []issued
	for range 150 {
		all = append(all, e.createSession(a.APIKey, map[string]any{"user_id": "dave"}))
	}
	r := e.do(req{method: "DELETE", path: "/v1/users/dave/sessions", token: a.APIKey})
	var revoked struct {
		Revoked []string `json:"revoked"`
		Count   int      `json:"count"`
	}
	r.decode(t, &revoked)
	if r.Status != http.StatusOK || len(revoked.Revoked) != 100 || revoked.Count != 150 {
		t.Fatalf("log out everywhere = %d: %d listed, count %d", r.Status, len(revoked.Revoked), revoked.Count)
	}
	for _, s := range all {
		if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("a session survived: %d", r.Status)
		}
	}
}

func TestTenantWideListingPages(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	seen := map[string]bool{}
	for i := range 25 {
		s := e.createSession(a.APIKey, map[string]any{"user_id": fmt.Sprintf("u%d", i)})
		seen[s.Session.ID] = false
	}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("listing does not end")
		}
		var page struct {
			Sessions []sessionOut `json:"sessions"`
			Next     string       `json:"next_cursor"`
		}
		path := "/v1/sessions?limit=10"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		e.do(req{method: "GET", path: path, token: a.APIKey}).decode(t, &page)
		for _, s := range page.Sessions {
			if done, ok := seen[s.ID]; !ok || done {
				t.Fatalf("session %s listed twice or unknown", s.ID)
			}
			seen[s.ID] = true
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	for id, done := range seen {
		if !done {
			t.Fatalf("session %s never listed", id)
		}
	}
}

func TestKeyRotationDoesNotLogAnyoneOut(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "erin"})
	old := e.keys(a.APIKey)[0]
	e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey})

	var v verified
	r := e.verify(a.APIKey, s.Token, nil)
	r.decode(t, &v)
	if r.Status != http.StatusOK || v.Token == "" || v.Token == s.Token || v.Session.ID != s.Session.ID {
		t.Fatalf("verify with the retiring key = %d %s", r.Status, r.Body)
	}
	e.do(req{method: "POST", path: "/v1/keys/" + old.KID + "/retire", token: a.APIKey})
	if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
		t.Fatalf("token of a retired key = %d %s", r.Status, r.Body)
	}
	r = e.verify(a.APIKey, v.Token, nil)
	var again verified
	r.decode(t, &again)
	if r.Status != http.StatusOK || again.Token != "" {
		t.Fatalf("re-signed token = %d %s", r.Status, r.Body)
	}
}

func TestSessionsOfOneTenantAreInvisibleToAnother(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop A")
	b := e.createTenant("Shop B")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "frank", "data": map[string]any{"k": "v"}})

	if r := e.verify(b.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
		t.Errorf("B verifying A's token = %d %s", r.Status, r.Body)
	}
	if r := e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: b.APIKey, body: map[string]any{"token": s.Token}}); r.Status != http.StatusUnauthorized {
		t.Errorf("B regenerating A's token = %d", r.Status)
	}
	for _, c := range []req{
		{method: "GET", path: "/v1/sessions/" + s.Session.ID},
		{method: "PATCH", path: "/v1/sessions/" + s.Session.ID, body: `{"k": "stolen"}`},
		{method: "DELETE", path: "/v1/sessions/" + s.Session.ID},
		{method: "DELETE", path: "/v1/users/frank/sessions?except=" + s.Session.ID},
	} {
		c.token = b.APIKey
		if r := e.do(c); r.Status != http.StatusNotFound {
			t.Errorf("B: %s %s = %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/v1/users/frank/sessions", "/v1/sessions?user_id=frank", "/v1/sessions"} {
		if body := string(e.do(req{method: "GET", path: path, token: b.APIKey}).Body); strings.Contains(body, s.Session.ID) {
			t.Errorf("B lists A's session at %s", path)
		}
	}
	e.do(req{method: "DELETE", path: "/v1/users/frank/sessions", token: b.APIKey})
	var v verified
	r := e.verify(a.APIKey, s.Token, nil)
	r.decode(t, &v)
	if r.Status != http.StatusOK || v.Session.Data["k"] != "v" {
		t.Fatalf("A's session was touched by B: %d %s", r.Status, r.Body)
	}

	t.Run("suspending A stops its sessions verifying at once", func(t *testing.T) {
		e.do(req{method: "PATCH", path: "/v1/tenants/" + a.ID, token: operatorToken, body: map[string]any{"status": "suspended"}})
		if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusForbidden {
			t.Fatalf("verify for a suspended tenant = %d", r.Status)
		}
	})

	t.Run("deleting A removes its Redis keys and no one else's", func(t *testing.T) {
		sb := e.createSession(b.APIKey, map[string]any{"user_id": "frank"})
		e.do(req{method: "DELETE", path: "/v1/tenants/" + a.ID, token: operatorToken})
		rdb := e.app.Redis
		eventually(t, 5*time.Second, "A's keys are purged", func() bool {
			keys, _, _ := rdb.Scan(t.Context(), 0, e.cfg.RedisPrefix+":{"+a.ID+":*", 100000).Result()
			return len(keys) == 0
		})
		if r := e.verify(b.APIKey, sb.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("B's session after A was deleted = %d", r.Status)
		}
	})
}

func TestSessionEndpointsRejectBadInput(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_data_bytes"] = 100 })
	s := e.createSession(a.APIKey, map[string]any{"user_id": "gina"})
	cases := []struct {
		name string
		r    req
		want int
		code string
	}{
		{"a user id with Redis metacharacters", req{method: "POST", path: "/v1/sessions", body: `{"user_id": "a{b}:*"}`}, 400, "invalid_request"},
		{"an empty user id", req{method: "POST", path: "/v1/sessions", body: `{"user_id": ""}`}, 400, "invalid_request"},
		{"data that is not an object", req{method: "POST", path: "/v1/sessions", body: `{"data": [1,2]}`}, 400, "invalid_request"},
		{"data over max_data_bytes", req{method: "POST", path: "/v1/sessions", body: `{"data": {"x": "` + strings.Repeat("a", 200) + `"}}`}, 413, "payload_too_large"},
		{"an invalid device IP", req{method: "POST", path: "/v1/sessions", body: `{"device": {"ip": "not-an-ip"}}`}, 400, "invalid_request"},
		{"a zero idle timeout", req{method: "POST", path: "/v1/sessions", body: `{"idle_timeout": 0}`}, 400, "invalid_request"},
		{"verify without a token", req{method: "POST", path: "/v1/sessions/verify", body: `{}`}, 400, "invalid_request"},
		{"verify with a made-up token", req{method: "POST", path: "/v1/sessions/verify", body: `{"token": "v1.k_aaaaaaaaaaaaaaaa.aa.bm9uY2U.bWFj"}`}, 401, "session_invalid"},
		{"verify with a tampered token", req{method: "POST", path: "/v1/sessions/verify", body: map[string]any{"token": s.Token[:len(s.Token)-2] + "AA"}}, 401, "session_invalid"},
		{"verify with a negative max_auth_age", req{method: "POST", path: "/v1/sessions/verify", body: map[string]any{"token": s.Token, "max_auth_age": -1}}, 400, "invalid_request"},
		{"a session id with Redis metacharacters", req{method: "GET", path: "/v1/sessions/s%7Ba%7D:*"}, 400, "invalid_request"},
		{"an unknown session", req{method: "GET", path: "/v1/sessions/saa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, 404, "not_found"},
		{"a patch that is not an object", req{method: "PATCH", path: "/v1/sessions/" + s.Session.ID, body: `[1]`}, 400, "invalid_request"},
		{"a malformed If-Match", req{method: "PATCH", path: "/v1/sessions/" + s.Session.ID, body: `{}`, header: map[string]string{"If-Match": "W/\"x\""}}, 400, "invalid_request"},
		{"except naming an unknown session", req{method: "DELETE", path: "/v1/users/gina/sessions?except=saa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, 404, "not_found"},
		{"a user path with a colon", req{method: "GET", path: "/v1/users/a:b/sessions"}, 400, "invalid_request"},
		{"a forged listing cursor", req{method: "GET", path: "/v1/sessions?cursor=zz.1.x"}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name+" is answered "+http.StatusText(c.want), func(t *testing.T) {
			c.r.token = a.APIKey
			r := e.do(c.r)
			if r.Status != c.want || r.code(t) != c.code {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
	var v verified
	e.verify(a.APIKey, s.Token, nil).decode(t, &v)
	if v.Session.ID != s.Session.ID {
		t.Fatalf("bad input damaged the session")
	}
}

func TestGuessingIsThrottled(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	var last resp
	for i := range 40 {
		last = e.verify(a.APIKey, fmt.Sprintf("v1.k_aaaaaaaaaaaaaaaa.aa.guess%d.mac", i), map[string]any{"device": map[string]any{"ip": "203.0.113.9"}})
		if last.Status == http.StatusTooManyRequests {
			break
		}
	}
	if last.Status != http.StatusTooManyRequests || last.code(t) != "rate_limited" || last.Header.Get("Retry-After") == "" {
		t.Fatalf("after many bad tokens = %d %s", last.Status, last.Body)
	}
	e.flushEvents()
	if body := string(e.do(req{method: "GET", path: "/v1/events?type=verify.rate_limited", token: a.APIKey}).Body); !strings.Contains(body, "verify.rate_limited") {
		t.Fatalf("no rate-limit event: %s", body)
	}
}
