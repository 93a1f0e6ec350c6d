package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per iteration since start
// ("cpu-ns/op"): unlike ns/op it leaves out the time spent waiting on Redis
// and other processes, so it is sessiond's own cost per request, and it is
// steadier than ns/op on a busy machine. It counts every goroutine of the
// process: the test's client side and the app's background work too.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// serve sends one JSON POST with key through h and fails b unless it is
// answered want: a benchmark's iteration.
func serve(b *testing.B, h http.Handler, key, path, body string, want int) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s: status %d %s", path, w.Code, w.Body)
	}
	return w
}

// reportPerItem reports, besides reportCPU's figure, the CPU time and the
// time per item of calls of n items each ("cpu-ns/item", "ns/item"), to
// compare with a single call's cpu-ns/op and ns/op.
func reportPerItem(b *testing.B, start time.Duration, n int) {
	cpu := cpuTime(b) - start
	reportCPU(b, start)
	b.ReportMetric(float64(cpu)/float64(b.N*n), "cpu-ns/item")
	b.ReportMetric(float64(b.Elapsed())/float64(b.N*n), "ns/item")
}

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
	start := cpuTime(b)
	for b.Loop() {
		r := httptest.NewRequest("GET", "/v1/policy", nil)
		r.Header.Set("Authorization", "Bearer "+a.APIKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	reportCPU(b, start)
}

// BenchmarkVerify measures POST /v1/sessions/verify through the whole HTTP
// handler against the local Redis: middleware, validation, the HMAC check
// and the one-round-trip verify script.
//
//	go test -run '^$' -bench 'Verify|CreateSession' -benchmem ./internal/httpapi/
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	a := e.createTenant("Acme")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "bench", "data": map[string]any{"cart": 3},
		"device": map[string]any{"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "ip": "203.0.113.9"}})
	body := `{"token":"` + s.Token + `","csrf_token":"` + s.CSRFToken + `"}`
	h := e.srv.Config.Handler
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for b.Loop() {
		serve(b, h, a.APIKey, "/v1/sessions/verify", body, http.StatusOK)
	}
	reportCPU(b, start)
}

// BenchmarkVerifyBatch measures POST /v1/sessions/verify-batch of 10
// sessions of 10 users (10 buckets: one pipeline of 10 verify scripts)
// through the whole HTTP handler. cpu-ns/item and ns/item are per verified
// session, to compare with BenchmarkVerify's cpu-ns/op and ns/op:
//
//	go test -run '^$' -bench '^BenchmarkVerify(Batch)?$' -benchmem ./internal/httpapi/
func BenchmarkVerifyBatch(b *testing.B) {
	const n = 10
	e := newEnv(b)
	a := e.createTenant("Acme")
	items := make([]string, n)
	for i := range items {
		s := e.createSession(a.APIKey, map[string]any{"user_id": fmt.Sprintf("bench%d", i), "data": map[string]any{"cart": 3},
			"device": map[string]any{"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "ip": "203.0.113.9"}})
		items[i] = `{"token":"` + s.Token + `","csrf_token":"` + s.CSRFToken + `"}`
	}
	body := `{"items":[` + strings.Join(items, ",") + `]}`
	for i, res := range e.do(req{method: "POST", path: "/v1/sessions/verify-batch", token: a.APIKey, body: body}).results(b) {
		if res.Status != http.StatusOK {
			b.Fatalf("item %d: %d %v", i, res.Status, res.Body)
		}
	}
	h := e.srv.Config.Handler
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for b.Loop() {
		serve(b, h, a.APIKey, "/v1/sessions/verify-batch", body, http.StatusOK)
	}
	reportPerItem(b, start, n)
}

// BenchmarkCreateSession measures POST /v1/sessions with a device cap (the
// atomic create-with-limit script) through the whole HTTP handler.
func BenchmarkCreateSession(b *testing.B) {
	e := newEnv(b)
	a := e.createTenant("Acme")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 5 })
	h := e.srv.Config.Handler
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	i := 0
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"user_id":"user-%d","data":{"cart":3},"device":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0","ip":"203.0.113.9"}}`, i%1000)
		serve(b, h, a.APIKey, "/v1/sessions", body, http.StatusCreated)
	}
	reportCPU(b, start)
}

// BenchmarkCreateSessionBatch measures POST /v1/sessions/create-batch of
// 10 sessions of 10 users (10 buckets: one pipeline of 10 create scripts)
// under the same device cap and bodies as BenchmarkCreateSession, through
// the whole HTTP handler; its users get as many sessions each as there.
// cpu-ns/item and ns/item are per created session, to compare with
// BenchmarkCreateSession's cpu-ns/op and ns/op:
//
//	go test -run '^$' -bench '^BenchmarkCreateSession(Batch)?$' -benchmem ./internal/httpapi/
func BenchmarkCreateSessionBatch(b *testing.B) {
	const n = 10
	e := newEnv(b)
	a := e.createTenant("Acme")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 5 })
	h := e.srv.Config.Handler
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	k := 0
	var body strings.Builder
	for b.Loop() {
		body.Reset()
		body.WriteString(`{"items":[`)
		for j := range n {
			if j > 0 {
				body.WriteByte(',')
			}
			k++
			fmt.Fprintf(&body, `{"user_id":"user-%d","data":{"cart":3},"device":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0","ip":"203.0.113.9"}}`, k%(1000*n))
		}
		body.WriteString(`]}`)
		if w := serve(b, h, a.APIKey, "/v1/sessions/create-batch", body.String(), http.StatusOK); strings.Contains(w.Body.String(), `"status":4`) {
			b.Fatalf("an item refused: %s", w.Body)
		}
	}
	reportPerItem(b, start, n)
}
