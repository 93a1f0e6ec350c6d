package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// accessLog returns the access log lines written so far.
func (e *env) accessLog() []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(e.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// A client may put a token where an id belongs; the access log names the
// route template (or a fixed placeholder), so the token never reaches it.
func TestAccessLogNamesRoutesNeverRawPaths(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	tok := e.createSession(a.APIKey, map[string]any{"user_id": "alice"}).Token
	parts := strings.Split(tok, ".")
	nonce, mac := parts[3], parts[4]

	for i, c := range []struct {
		method, path string
		status       int
		route        string
	}{
		{"GET", "/v1/sessions/" + tok, http.StatusBadRequest, "/v1/sessions/{session_id}"},
		{"DELETE", "/v1/sessions/" + tok, http.StatusBadRequest, "/v1/sessions/{session_id}"},
		{"GET", "/v1/users/" + tok + "/sessions", http.StatusOK, "/v1/users/{user_id}/sessions"}, // a well-formed user id
		{"GET", "/v1/" + tok, http.StatusNotFound, "(unmatched)"},
		{"GET", "/admin/t/" + tok + "/sessions", http.StatusSeeOther, "/admin/t/{tid}/sessions"},
		{"GET", "/admin/" + tok, http.StatusNotFound, "(unmatched)"},
	} {
		id := "rid-" + strconv.Itoa(i)
		hr, _ := http.NewRequest(c.method, e.srv.URL+c.path, nil)
		hr.Header.Set("Authorization", "Bearer "+a.APIKey)
		hr.Header.Set("X-Request-Id", id)
		client := *e.srv.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := client.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.route, res.StatusCode, c.status)
		}
		found := false
		for _, l := range e.accessLog() {
			if l["request_id"] == id {
				found = true
				if l["route"] != c.route {
					t.Errorf("%s %s: logged route %v", c.method, c.route, l["route"])
				}
			}
		}
		if !found {
			t.Errorf("%s %s: no access log line", c.method, c.route)
		}
	}
	logs := e.logs.String()
	for name, secret := range map[string]string{"token": tok, "nonce": nonce, "mac": mac} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in the logs", name)
		}
	}
}
