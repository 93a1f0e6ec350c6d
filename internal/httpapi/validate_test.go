package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// Validation errors name the parameter by where it is (path, query,
// header) or the body field by its path, and never repeat the value sent or
// a property name the client made up.
func TestValidationErrorsNameTheParameterOrField(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	const madeUp = "zz_made_up_property"
	for _, c := range []struct {
		name        string
		r           req
		field, msg  string
		mustNotShow string
	}{
		{"a query parameter out of range", req{method: "GET", path: "/v1/sessions?limit=100000"}, "query.limit", "number must be at most 200", "100000"},
		{"a malformed query parameter", req{method: "GET", path: "/v1/sessions?limit=lots"}, "query.limit", "is malformed: invalid format", "lots"},
		{"a query parameter outside its pattern", req{method: "GET", path: "/v1/sessions?user_id=a%7Bsecret%7D"}, "query.user_id", "", "secret"},
		{"a query parameter outside its enum", req{method: "GET", path: "/v1/events?type=secret.type"}, "query.type", "is not one of the allowed values", "secret"},
		{"a path parameter outside its pattern", req{method: "GET", path: "/v1/sessions/secret%7B"}, "path.session_id", "", "secret"},
		{"a header outside its pattern", req{method: "PATCH", path: "/v1/sessions/" + s.Session.ID, body: map[string]any{"k": 1},
			header: map[string]string{"If-Match": "secret"}}, "header.If-Match", "", "secret"},
		{"an unknown body property", req{method: "POST", path: "/v1/sessions", body: map[string]any{"user_id": "bob", madeUp: 1}}, "body", "unknown property", madeUp},
		{"an unknown nested property", req{method: "POST", path: "/v1/sessions", body: map[string]any{"device": map[string]any{madeUp: "x"}}}, "device", "unknown property", madeUp},
		{"a body field of the wrong type", req{method: "POST", path: "/v1/sessions", body: map[string]any{"user_id": 42}}, "user_id", "value must be a string", "42"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.r.token = a.APIKey
			if c.r.header == nil {
				c.r.header = map[string]string{}
			}
			c.r.header["X-Request-Id"] = "validation-test" // no stray digits in the answer
			r := e.do(c.r)
			var p struct {
				Code   string `json:"code"`
				Detail string `json:"detail"`
				Errors []struct{ Field, Message string }
			}
			r.decode(t, &p)
			if r.Status != http.StatusBadRequest || p.Code != "invalid_request" || len(p.Errors) == 0 {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if p.Errors[0].Field != c.field || (c.msg != "" && p.Errors[0].Message != c.msg) {
				t.Fatalf("errors %+v, want field %q message %q", p.Errors, c.field, c.msg)
			}
			if !strings.HasPrefix(p.Detail, c.field+": ") {
				t.Errorf("detail %q does not start with the field", p.Detail)
			}
			if strings.Contains(string(r.Body), c.mustNotShow) {
				t.Errorf("the answer repeats %q: %s", c.mustNotShow, r.Body)
			}
		})
	}
}
