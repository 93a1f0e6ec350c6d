package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// An app with many users behind one server: every verify comes from the
// app's IP. One user's junk cookies must never refuse anybody's valid token.
func TestJunkTokensOfOneUserNeverRefuseValidOnes(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	var valid []issued
	for i := range 5 {
		valid = append(valid, e.createSession(a.APIKey, map[string]any{"user_id": fmt.Sprintf("u%d", i)}))
	}
	refusedJunk, refusedValid := 0, 0
	for i := range 200 {
		junk := []string{"", "junk", strings.Repeat("x", 600), fmt.Sprintf("v1.k_aaaaaaaaaaaaaaaa.aa.%043d.%043d", i, i)}[i%4]
		r := e.verify(a.APIKey, junk, map[string]any{"device": map[string]any{"ip": "203.0.113.66"}})
		switch {
		case r.Status == http.StatusTooManyRequests && r.code(t) == "rate_limited":
			refusedJunk++
		case r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid":
			t.Fatalf("junk token %d: %d %s", i, r.Status, r.Body)
		}
		s := valid[i%len(valid)]
		if r := e.verify(a.APIKey, s.Token, map[string]any{"device": map[string]any{"ip": fmt.Sprintf("198.51.100.%d", i%len(valid))}}); r.Status != http.StatusOK {
			refusedValid++
		}
		// The junk user's own valid session is not refused either.
		if i%50 == 49 {
			if r := e.verify(a.APIKey, s.Token, map[string]any{"device": map[string]any{"ip": "203.0.113.66"}}); r.Status != http.StatusOK {
				t.Fatalf("a valid token from the throttled device: %d %s", r.Status, r.Body)
			}
		}
	}
	if refusedValid != 0 {
		t.Fatalf("%d valid verifies refused", refusedValid)
	}
	if refusedJunk != 200-30 {
		t.Fatalf("%d junk tokens refused, want %d (past the limit of 30)", refusedJunk, 200-30)
	}
}

// Cookies pass through as they are: anything sessiond did not issue is 401
// session_invalid, never 400, on verify and regenerate.
func TestAnyTokenStringIsSessionInvalid(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	for _, tok := range []string{"", " ", "junk", strings.Repeat("a", 513), strings.Repeat("v1.", 2000), "v1.k_x.aa.\u00ff.\u0000"} {
		for _, path := range []string{"/v1/sessions/verify", "/v1/sessions/regenerate"} {
			r := e.do(req{method: "POST", path: path, token: a.APIKey, body: map[string]any{"token": tok}})
			if r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
				t.Errorf("%s with %.20q: %d %s", path, tok, r.Status, r.Body)
			}
		}
	}
	r := e.do(req{method: "POST", path: "/v1/sessions/verify", token: a.APIKey, body: map[string]any{"token": 42}})
	if r.Status != http.StatusBadRequest {
		t.Errorf("a token that is not a string: %d %s", r.Status, r.Body)
	}
}

// Logout in one call: POST /v1/sessions/revoke {token}, idempotent.
func TestRevokeByToken(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	if s.Session.AuthTime == nil {
		t.Fatal("a session created for a user has no auth_time")
	}
	for i, tok := range []string{s.Token, s.Token, "junk", ""} {
		r := e.do(req{method: "POST", path: "/v1/sessions/revoke", token: a.APIKey, body: map[string]any{"token": tok}})
		if r.Status != http.StatusNoContent {
			t.Fatalf("revoke %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
		t.Fatalf("verify after logout: %d %s", r.Status, r.Body)
	}
	if r := e.do(req{method: "POST", path: "/v1/sessions/revoke", token: "sk_bad", body: map[string]any{"token": "x"}}); r.Status != http.StatusUnauthorized || r.code(t) != "unauthorized" {
		t.Fatalf("revoke with a bad API key: %d %s", r.Status, r.Body)
	}
}

// A user's devices come a page at a time; ids made of dots are refused,
// never redirected to another resource.
func TestUserSessionsArePaginatedAndDotIDsRefused(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	for range 5 {
		e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	}
	seen := map[string]bool{}
	path := "/v1/users/alice/sessions?limit=2"
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("the cursor does not advance")
		}
		var page struct {
			Sessions []sessionOut `json:"sessions"`
			Next     string       `json:"next_cursor"`
		}
		r := e.do(req{method: "GET", path: path, token: a.APIKey})
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		r.decode(t, &page)
		if len(page.Sessions) > 2 {
			t.Fatalf("a page of %d", len(page.Sessions))
		}
		for _, s := range page.Sessions {
			seen[s.ID] = true
		}
		if page.Next == "" {
			break
		}
		path = "/v1/users/alice/sessions?limit=2&cursor=" + page.Next
	}
	if len(seen) != 5 {
		t.Fatalf("pages listed %d distinct sessions, want 5", len(seen))
	}
	for _, p := range []string{"/v1/users/../sessions", "/v1/users/./sessions", "/v1/users/.../sessions"} {
		for _, method := range []string{"GET", "DELETE"} {
			r := e.do(req{method: method, path: p, token: a.APIKey})
			if r.Status != http.StatusBadRequest || r.code(t) != "invalid_request" {
				t.Errorf("%s %s: %d %s", method, p, r.Status, r.Body)
			}
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": ".."}}); r.Status != http.StatusBadRequest {
		t.Errorf("create for user '..': %d %s", r.Status, r.Body)
	}
}
