package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGetPolicy measures the whole middleware chain (request id, access
// log, body limit, API-key authentication, OpenAPI validation) and the
// handler, for an authenticated GET /v1/policy served from the tenant cache.
//
//	go test -run '^$' -bench GetPolicy -benchmem ./internal/httpapi/
func BenchmarkGetPolicy(b *testing.B) {
	e := newEnv(b)
	a := e.createTenant("Acme")
	h := e.srv.Config.Handler
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/v1/policy", nil)
		r.Header.Set("Authorization", "Bearer "+a.APIKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
