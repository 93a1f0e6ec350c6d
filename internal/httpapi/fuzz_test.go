package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to the endpoints that decode
// JSON, through the whole handler against real PostgreSQL and Redis. Whatever
// the body, the answer is a success or a 4xx problem+json: never a 5xx, a
// panic, or an echo of the body's content. The seeds run with every `go test`;
//
//	go test -run '^$' -fuzz FuzzRequestBodies -fuzztime 60s ./internal/httpapi/
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f)
	a := e.createTenant("Fuzz")
	live := e.createSession(a.APIKey, map[string]any{"user_id": "fuzz"})
	for _, seed := range []string{
		`{}`, `{"name":"x"}`, `{"token":"` + live.Token + `"}`, `{"user_id":"a","data":{"k":[1,2,{"x":null}]}}`,
		`{"idle_timeout":1e309}`, `{"idle_timeout":-0}`, `{"data":"\u0000"}`, `{"token":"v1.k_.a.b.c"}`,
		`[`, `null`, `"str"`, `{"a":1}{"b":2}`, "\xff\xfe", `{"user_id":"` + strings.Repeat("é", 200) + `"}`,
		`{"binding":{"user_agent":"off","ip":"off"},"idle_timeout":1,"absolute_timeout":1,"max_sessions_per_user":0,"on_limit":"reject","rolling":false,"max_data_bytes":1}`,
		`{"items":[{"token":"` + live.Token + `"},{"token":"v1.k_.a.b.c","device":{"ip":"x"}}]}`, `{"items":[]}`, `{"items":[{}]}`,
		`{"items":[{"user_id":"fuzz"},{"user_id":"fuzz","remember":true},{"data":{"k":1}}]}`,
	} {
		for ep := range 8 {
			f.Add(uint8(ep), []byte(seed))
		}
	}
	endpoints := []struct{ method, path, token string }{
		{"POST", "/v1/tenants", operatorToken},
		{"POST", "/v1/sessions", a.APIKey},
		{"POST", "/v1/sessions/verify", a.APIKey},
		{"POST", "/v1/sessions/verify-batch", a.APIKey},
		{"POST", "/v1/sessions/create-batch", a.APIKey},
		{"POST", "/v1/sessions/regenerate", a.APIKey},
		{"PUT", "/v1/policy", a.APIKey},
		{"PATCH", "/v1/sessions/" + live.Session.ID, a.APIKey},
	}
	h := e.srv.Config.Handler
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := endpoints[int(which)%len(endpoints)]
		r := httptest.NewRequest(ep.method, ep.path, strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer "+ep.token)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s answered %d for %q: %s", ep.method, ep.path, w.Code, body, w.Body)
		}
		if w.Code >= 400 {
			var p struct {
				Code string `json:"code"`
			}
			if json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Code == "" || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s answered %d without a problem body: %s", ep.method, ep.path, w.Code, w.Body)
			}
		}
	})
}
