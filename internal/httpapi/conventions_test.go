package httpapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// The API's HTTP conventions: 405 says what is allowed, 401 names the
// scheme, and a query parameter the operation does not take is refused by
// name rather than ignored.
func TestHTTPConventions(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")

	t.Run("405 carries Allow", func(t *testing.T) {
		for path, want := range map[string]string{"/v1/policy": "GET, PUT", "/v1/keys/rotate": "POST", "/v1/tenants": "GET, POST"} {
			r := e.do(req{method: "PATCH", path: path, token: a.APIKey, body: map[string]any{}})
			if r.Status != http.StatusMethodNotAllowed || r.code(t) != "method_not_allowed" || r.Header.Get("Allow") != want {
				t.Errorf("PATCH %s = %d Allow %q %s, want 405 Allow %q", path, r.Status, r.Header.Get("Allow"), r.Body, want)
			}
		}
	})

	t.Run("401 carries WWW-Authenticate", func(t *testing.T) {
		for _, token := range []string{"", "not-a-key"} {
			r := e.do(req{method: "GET", path: "/v1/policy", token: token})
			if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("token %q: %d WWW-Authenticate %q", token, r.Status, r.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("unknown query parameters are refused by name", func(t *testing.T) {
		r := e.do(req{method: "GET", path: "/v1/sessions?limit=5&colour=red&bogus", token: a.APIKey})
		var p struct {
			Code   string `json:"code"`
			Errors []struct{ Field, Message string }
		}
		r.decode(t, &p)
		if r.Status != http.StatusBadRequest || p.Code != "invalid_request" || len(p.Errors) != 2 ||
			p.Errors[0].Field != "query.bogus" || p.Errors[1].Field != "query.colour" || p.Errors[0].Message != "unknown query parameter" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "POST", path: "/v1/sessions/verify?token=x", token: a.APIKey, body: map[string]any{"token": "x"}}); r.Status != http.StatusBadRequest {
			t.Fatalf("a query on verify = %d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "GET", path: "/v1/sessions?limit=5", token: a.APIKey}); r.Status != http.StatusOK {
			t.Fatalf("a known parameter = %d %s", r.Status, r.Body)
		}
	})
}

// The document's list of error codes (Problem.code) is fault's.
func TestTheDocumentListsEveryErrorCode(t *testing.T) {
	doc, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		listed = append(listed, c.(string))
	}
	var want []string
	for _, c := range fault.Codes() {
		want = append(want, string(c))
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("api/openapi.yaml lists\n%v\ninternal/fault has\n%v", listed, want)
	}
}
