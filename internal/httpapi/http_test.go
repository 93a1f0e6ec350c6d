package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
)

func pgtestURL(t testing.TB) string { return pgtest.NewURL(t) }

func TestHealthReadinessAndSpec(t *testing.T) {
	e := newEnv(t)
	if r := e.do(req{method: "GET", path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("healthz = %d", r.Status)
	}
	if r := e.do(req{method: "GET", path: "/readyz"}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"ready"`) {
		t.Fatalf("readyz = %d %s", r.Status, r.Body)
	}
	r := e.do(req{method: "GET", path: "/openapi.yaml"})
	if r.Status != http.StatusOK || !strings.HasPrefix(string(r.Body), "openapi: 3.0") {
		t.Fatalf("openapi.yaml = %d", r.Status)
	}
}

// TestReadyzFailsWhileDrainingAndEverythingElseIsServed: once the instance
// starts draining (SIGTERM), /readyz answers 503 "draining" with Retry-After
// so load balancers take it out of rotation, while /healthz (liveness) and the
// API keep answering as before.
func TestReadyzFailsWhileDrainingAndEverythingElseIsServed(t *testing.T) {
	e := newEnv(t)
	e.app.StartDrain()
	r := e.do(req{method: "GET", path: "/readyz"})
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	r.decode(t, &body)
	if r.Status != http.StatusServiceUnavailable || body.Status != "draining" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz while draining = %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if body.Checks["postgres"] != "ok" || body.Checks["redis"] != "ok" {
		t.Fatalf("the checks are still reported while draining: %s", r.Body)
	}
	if r := e.do(req{method: "GET", path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("healthz while draining = %d", r.Status)
	}
	if r := e.do(req{method: "GET", path: "/v1/tenants", token: operatorToken}); r.Status != http.StatusOK {
		t.Fatalf("the API while draining = %d %s", r.Status, r.Body)
	}
}

func TestRequestHygiene(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")

	t.Run("a well-formed request id is echoed, a bad one replaced", func(t *testing.T) {
		r := e.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "abc-123"}})
		if r.Header.Get("X-Request-Id") != "abc-123" {
			t.Fatalf("X-Request-Id = %q", r.Header.Get("X-Request-Id"))
		}
		r = e.do(req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "bad id {}"}})
		if got := r.Header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " {}") {
			t.Fatalf("X-Request-Id = %q", got)
		}
	})

	t.Run("problem bodies carry the request id", func(t *testing.T) {
		r := e.do(req{method: "GET", path: "/v1/policy", header: map[string]string{"X-Request-Id": "rid-42"}})
		if r.Status != 401 || !strings.Contains(string(r.Body), `"request_id":"rid-42"`) {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("unknown paths and methods are problems", func(t *testing.T) {
		if r := e.do(req{method: "GET", path: "/v1/nope", token: a.APIKey}); r.Status != 404 || r.code(t) != "not_found" {
			t.Fatalf("unknown path = %d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "DELETE", path: "/v1/policy", token: a.APIKey}); r.Status != 405 {
			t.Fatalf("unknown method = %d %s", r.Status, r.Body)
		}
	})

	t.Run("every response is nosniff", func(t *testing.T) {
		if r := e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}); r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers = %v", r.Header)
		}
	})

	t.Run("unicode and odd strings are stored faithfully or refused, never a 500", func(t *testing.T) {
		for _, name := range []string{"Café 東京 🚀", "\u0000null byte", strings.Repeat("é", 100), "<script>alert(1)</script>"} {
			r := e.do(req{method: "POST", path: "/v1/tenants", token: operatorToken, body: map[string]any{"name": name}})
			if r.Status >= 500 {
				t.Fatalf("%q: %d %s", name, r.Status, r.Body)
			}
		}
	})
}

func TestNoSecretReachesLogsOrRows(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	k := e.createAPIKey(a.APIKey, "web", "sessions")
	e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey})
	e.do(req{method: "GET", path: "/v1/policy", token: "sk_aaaaaaaaaaaaaaaa_" + strings.Repeat("c", 52)})
	e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: `{"idle_timeout": "` + k.Secret + `"}`})
	e.flushEvents()

	logs := e.logs.String()
	for name, secret := range map[string]string{"tenant API key": a.APIKey, "second API key": k.Secret, "operator token": operatorToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in the logs", name)
		}
	}

	ctx := t.Context()
	rows, err := e.app.Pool.Query(ctx, `
		SELECT t::text FROM tenants t UNION ALL SELECT s::text FROM signing_keys s
		UNION ALL SELECT k::text FROM api_keys k UNION ALL SELECT v::text FROM events v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			t.Fatal(err)
		}
		n++
		for _, secret := range []string{a.APIKey, k.Secret, operatorToken} {
			if strings.Contains(row, secret) || strings.Contains(row, secret[20:]) {
				t.Errorf("a row holds a secret: %.80s…", row)
			}
		}
	}
	if n < 5 {
		t.Fatalf("read only %d rows; the test is not looking", n)
	}
}

func TestEventsListingRejectsBadFilters(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	for name, path := range map[string]string{
		"an unknown type":              "/v1/events?type=session.hacked",
		"a user id with a colon":       "/v1/events?user_id=a:b",
		"a forged cursor":              "/v1/events?cursor=Zm9vYmFy",
		"a limit of zero":              "/v1/events?limit=0",
		"a limit that is not a number": "/v1/events?limit=ten",
	} {
		t.Run(name+" is 400", func(t *testing.T) {
			if r := e.do(req{method: "GET", path: path, token: a.APIKey}); r.Status != 400 || r.code(t) != "invalid_request" {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
	e.flushEvents()
	var page struct {
		Events []struct{ Type string } `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events?type=tenant.created", token: a.APIKey}).decode(t, &page)
	if len(page.Events) != 1 || page.Events[0].Type != "tenant.created" {
		t.Fatalf("filtered events = %+v", page.Events)
	}
}

func TestOldSecurityEventsAreDeletedAfterTheRetention(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme") // tenant.created, api_key.created: now old
	e.flushEvents()
	e.clock.Advance(91 * 24 * time.Hour)
	e.putPolicy(a.APIKey, func(map[string]any) {}) // policy.changed: recent
	e.flushEvents()

	e.app.Config.EventRetention = 90 * 24 * time.Hour
	n, err := e.app.PruneEvents(t.Context())
	if err != nil || n < 2 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	var page struct {
		Events []struct{ Type string } `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events", token: a.APIKey}).decode(t, &page)
	if len(page.Events) != 1 || page.Events[0].Type != "policy.changed" {
		t.Fatalf("events after pruning = %+v", page.Events)
	}
}
