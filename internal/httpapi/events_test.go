package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestTenantsSeeNoOperatorIPOrUserAgentInTheirEvents(t *testing.T) {
	e := newEnv(t)
	operatorUA := map[string]string{"User-Agent": "operator-console/9.1"}
	r := e.do(req{method: "POST", path: "/v1/tenants", token: operatorToken, header: operatorUA, body: map[string]any{"name": "Acme"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", r.Status, r.Body)
	}
	var created struct {
		Tenant struct {
			ID string `json:"id"`
		} `json:"tenant"`
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	r.decode(t, &created)
	if r := e.do(req{method: "PATCH", path: "/v1/tenants/" + created.Tenant.ID, token: operatorToken, header: operatorUA,
		body: map[string]any{"name": "Acme Corp"}}); r.Status != http.StatusOK {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	// The tenant's own change keeps its caller's IP and user agent.
	if r := e.do(req{method: "POST", path: "/v1/api-keys", token: created.APIKey.Secret, header: map[string]string{"User-Agent": "shop-backend/1.4"},
		body: map[string]any{"name": "ci", "scopes": []string{"sessions"}}}); r.Status != http.StatusCreated {
		t.Fatalf("create API key: %d %s", r.Status, r.Body)
	}
	e.flushEvents()

	var page struct {
		Events []struct {
			ID        string `json:"id"`
			Type      string `json:"type"`
			Actor     string `json:"actor"`
			IP        string `json:"ip"`
			UserAgent string `json:"user_agent"`
		} `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events", token: created.APIKey.Secret}).decode(t, &page)
	byOperator, byKey := 0, 0
	for _, ev := range page.Events {
		if !regexp.MustCompile(`^ev_[a-z2-7]{26}$`).MatchString(ev.ID) {
			t.Errorf("event id %q is not opaque", ev.ID)
		}
		switch {
		case ev.Actor == "operator":
			byOperator++
			if ev.IP != "" || ev.UserAgent != "" {
				t.Errorf("%s by the operator shows the tenant the operator's IP %q and user agent %q", ev.Type, ev.IP, ev.UserAgent)
			}
		case strings.HasPrefix(ev.Actor, "api_key:"):
			byKey++
			if ev.IP == "" || ev.UserAgent != "shop-backend/1.4" {
				t.Errorf("%s by the tenant's key lost its caller: IP %q, user agent %q", ev.Type, ev.IP, ev.UserAgent)
			}
		}
	}
	if byOperator < 3 || byKey != 1 {
		t.Fatalf("listed %d events by the operator and %d by the key, want 3 and 1: %+v", byOperator, byKey, page.Events)
	}
	if !strings.Contains(e.s.Logs.String(), "operator-console/9.1") {
		t.Error("the operator's own log line lost its user agent")
	}
}
