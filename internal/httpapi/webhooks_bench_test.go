package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/webhooks"
)

// BenchmarkWebhookThroughput measures delivery throughput: b.N events of
// one tenant with 10 endpoints (so 10·b.N deliveries) to a receiver that
// answers 204 at once, sent by one instance's dispatcher (16 workers, 2 per
// endpoint). It reports deliveries/s.
//
//	go test -run '^$' -bench WebhookThroughput -benchtime 500x ./internal/httpapi/
func BenchmarkWebhookThroughput(b *testing.B) {
	e := newEnv(b, envOptions{WebhookAllowPrivate: true, Webhooks: webhooks.Options{Manual: true}})
	a := e.createTenant("Shop")
	var got atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rc.Close)
	for range 10 {
		e.createWebhook(a.APIKey, map[string]any{"url": rc.URL, "event_types": []string{"session.created"}})
	}
	for range b.N {
		e.createSession(a.APIKey, map[string]any{})
	}
	e.flushEvents()
	b.ResetTimer()
	start := time.Now()
	e.app.Dispatcher.Pump(context.Background())
	elapsed := time.Since(start)
	b.StopTimer()
	if got.Load() != int64(10*b.N) {
		b.Fatalf("delivered %d, want %d", got.Load(), 10*b.N)
	}
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "deliveries/s")
}

// BenchmarkCreateWithSlowEndpoints measures POST /v1/sessions latency (one
// client, sequential) while the dispatcher runs, with 0 and with 10
// endpoints whose receiver takes 5 s to answer each delivery. It reports
// p50 and p99 besides ns/op.
//
//	go test -run '^$' -bench CreateWithSlowEndpoints -benchtime 2000x ./internal/httpapi/
func BenchmarkCreateWithSlowEndpoints(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(map[int]string{0: "endpoints=0", 10: "slow_endpoints=10"}[n], func(b *testing.B) {
			e := newEnv(b, envOptions{WebhookAllowPrivate: true, Webhooks: webhooks.Options{Poll: 50 * time.Millisecond, Timeout: 10 * time.Second}})
			a := e.createTenant("Shop")
			stop := make(chan struct{})
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(5 * time.Second):
				case <-stop:
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			b.Cleanup(rc.Close)
			b.Cleanup(func() { close(stop) })
			for range n {
				e.createWebhook(a.APIKey, map[string]any{"url": rc.URL})
			}
			for range 20 { // warm up; with endpoints, fills the dispatcher's workers
				e.createSession(a.APIKey, map[string]any{})
			}
			e.flushEvents()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				e.createSession(a.APIKey, map[string]any{"user_id": "alice", "device": map[string]any{"ip": "203.0.113.7"}})
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
