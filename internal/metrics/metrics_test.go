package metrics_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/testkit"
)

// writerCounts stands in for the event writer's counters.
type writerCounts struct{ dropped, failures atomic.Int64 }

func (w *writerCounts) Drops() []events.TenantCount {
	return []events.TenantCount{
		{TenantID: "tn_a", Reason: events.DropTenantQueueFull, Count: w.dropped.Load()},
		{TenantID: "tn_b", Reason: events.DropSpoolFull, Count: 1},
	}
}
func (w *writerCounts) Suppressed() []events.TenantCount {
	return []events.TenantCount{{TenantID: "tn_a", Count: 40}}
}
func (w *writerCounts) Written() int64       { return 11 }
func (w *writerCounts) WriteFailures() int64 { return w.failures.Load() }
func (w *writerCounts) SpoolDepth() int64    { return 5 }

// scrape returns the registry's exposition, as text and parsed.
func scrape(tb testing.TB, r *metrics.Registry) (string, map[string]*dto.MetricFamily) {
	tb.Helper()
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		tb.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		tb.Fatalf("the exposition does not parse: %v\n%s", err, b.String())
	}
	return b.String(), families
}

// sample returns the value of the sample of family name whose labels are
// exactly labels, and whether there is one.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestExposition(t *testing.T) {
	counts := &writerCounts{}
	counts.dropped.Store(3)
	counts.failures.Store(2)
	r := metrics.New(metrics.Options{
		Events: counts,
		Pool:   pgtest.New(t),
		Gauges: []metrics.Gauge{{Name: "sessiond_tenants", Help: "Tenants cached.", Value: func() float64 { return 7 }}},
	})

	next := &testkit.Events{}
	rec := r.Recorder(next)
	rec.Record(events.Event{TenantID: "tn_a", Type: events.SessionCreated})
	rec.Record(events.Event{TenantID: "tn_a", Type: events.SessionCreated})
	rec.Record(events.Event{TenantID: "tn_a", Type: events.VerifyRejected, Detail: map[string]string{"reason": "forged"}})
	rec.Record(events.Event{TenantID: "tn_\xff", Type: events.AdminLoginFailed, Detail: map[string]string{"reason": "bad\x00password"}})

	h := r.Middleware(func(req *http.Request) string {
		if strings.HasPrefix(req.URL.Path, "/admin") {
			return "admin"
		}
		return "api"
	}, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/missing":
			http.NotFound(w, req)
		case "/admin/login":
			w.WriteHeader(http.StatusSeeOther)
		default:
			_, _ = w.Write([]byte("ok")) // an implicit 200
		}
	}))
	for _, rq := range []struct{ method, path string }{
		{"GET", "/v1/x"}, {"GET", "/v1/x"}, {"GET", "/missing"}, {"POST", "/admin/login"}, {"PROPFIND", "/v1/x"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(rq.method, rq.path, nil))
	}

	text, families := scrape(t, r)
	t.Run("every sample has its value and labels", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"sessiond_events_total", map[string]string{"tenant_id": "tn_a", "type": "session.created", "reason": ""}, 2},
			{"sessiond_events_total", map[string]string{"tenant_id": "tn_a", "type": "verify.rejected", "reason": "forged"}, 1},
			{"sessiond_events_total", map[string]string{"tenant_id": "tn_\uFFFD", "type": "admin.login_failed", "reason": "bad\uFFFDpassword"}, 1},
			{"sessiond_http_requests_total", map[string]string{"surface": "api", "method": "GET", "code": "200"}, 2},
			{"sessiond_http_requests_total", map[string]string{"surface": "api", "method": "GET", "code": "404"}, 1},
			{"sessiond_http_requests_total", map[string]string{"surface": "api", "method": "other", "code": "200"}, 1},
			{"sessiond_http_requests_total", map[string]string{"surface": "admin", "method": "POST", "code": "303"}, 1},
			{"sessiond_http_request_duration_seconds", map[string]string{"surface": "api"}, 4},
			{"sessiond_http_request_duration_seconds", map[string]string{"surface": "admin"}, 1},
			{"sessiond_events_dropped_total", map[string]string{"tenant_id": "tn_a", "reason": "tenant_queue_full"}, 3},
			{"sessiond_events_dropped_total", map[string]string{"tenant_id": "tn_b", "reason": "spool_full"}, 1},
			{"sessiond_events_suppressed_total", map[string]string{"tenant_id": "tn_a"}, 40},
			{"sessiond_events_written_total", map[string]string{}, 11},
			{"sessiond_events_spool_depth", map[string]string{}, 5},
			{"sessiond_events_write_failures_total", map[string]string{}, 2},
			{"sessiond_tenants", map[string]string{}, 7},
		} {
			if got, ok := sample(families, tc.name, tc.labels); !ok || got != tc.want {
				t.Errorf("%s%v = %v (found: %v), want %v", tc.name, tc.labels, got, ok, tc.want)
			}
		}
	})
	t.Run("each metric has its type", func(t *testing.T) {
		for name, want := range map[string]dto.MetricType{
			"sessiond_events_total":                  dto.MetricType_COUNTER,
			"sessiond_http_requests_total":           dto.MetricType_COUNTER,
			"sessiond_http_request_duration_seconds": dto.MetricType_HISTOGRAM,
			"sessiond_events_dropped_total":          dto.MetricType_COUNTER,
			"sessiond_events_write_failures_total":   dto.MetricType_COUNTER,
			"sessiond_events_suppressed_total":       dto.MetricType_COUNTER,
			"sessiond_events_written_total":          dto.MetricType_COUNTER,
			"sessiond_events_spool_depth":            dto.MetricType_GAUGE,
			"sessiond_tenants":                       dto.MetricType_GAUGE,
			"sessiond_postgres_pool_connections":     dto.MetricType_GAUGE,
			"sessiond_postgres_pool_acquires_total":  dto.MetricType_COUNTER,
			"go_goroutines":                          dto.MetricType_GAUGE,
			"process_cpu_seconds_total":              dto.MetricType_COUNTER,
		} {
			if f := families[name]; f == nil || f.GetType() != want || f.GetHelp() == "" {
				t.Errorf("%s: %v, want type %v with help", name, f, want)
			}
		}
	})
	t.Run("the latency histogram keeps its buckets", func(t *testing.T) {
		var bounds []float64
		for _, m := range families["sessiond_http_request_duration_seconds"].Metric {
			if m.Label[0].GetValue() == "api" {
				for _, b := range m.Histogram.Bucket {
					bounds = append(bounds, b.GetUpperBound())
				}
			}
		}
		want := []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, math.Inf(1)}
		if !slices.Equal(bounds, want) {
			t.Errorf("buckets %v, want %v", bounds, want)
		}
		if !strings.Contains(text, `sessiond_http_request_duration_seconds_bucket{surface="api",le="+Inf"} 4`) {
			t.Error("no +Inf bucket holding every api request")
		}
	})
	t.Run("the pool reports its connections", func(t *testing.T) {
		if max, ok := sample(families, "sessiond_postgres_pool_max_connections", map[string]string{}); !ok || max < 1 {
			t.Errorf("max connections %v (found: %v)", max, ok)
		}
		for _, state := range []string{"acquired", "idle", "constructing"} {
			if _, ok := sample(families, "sessiond_postgres_pool_connections", map[string]string{"state": state}); !ok {
				t.Errorf("no %s connections", state)
			}
		}
	})
	t.Run("labels keep the order sessiond always wrote them in", func(t *testing.T) {
		for _, line := range []string{
			`sessiond_events_total{tenant_id="tn_a",type="session.created",reason=""} 2`,
			`sessiond_http_requests_total{surface="admin",method="POST",code="303"} 1`,
			`sessiond_events_dropped_total{tenant_id="tn_a",reason="tenant_queue_full"} 3`,
		} {
			if !strings.Contains(text, "\n"+line+"\n") {
				t.Errorf("no line %s", line)
			}
		}
	})
	t.Run("the recorder passes each event on, sanitised", func(t *testing.T) {
		if len(next.All()) != 4 || next.All()[3].TenantID != "tn_\uFFFD" || next.All()[3].Detail["reason"] != "bad\uFFFDpassword" {
			t.Errorf("passed on %+v", next.All())
		}
	})
}

func TestCountsAreExactUnderConcurrency(t *testing.T) {
	r := metrics.New(metrics.Options{})
	rec := r.Recorder(&testkit.Events{})
	h := r.Middleware(func(*http.Request) string { return "api" },
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range each {
				rec.Record(events.Event{TenantID: fmt.Sprint("tn_", i%2), Type: events.SessionCreated})
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/v1/x", nil))
			}
		})
	}
	wg.Wait()
	_, families := scrape(t, r)
	for _, tn := range []string{"tn_0", "tn_1"} {
		if got, _ := sample(families, "sessiond_events_total", map[string]string{"tenant_id": tn, "type": "session.created", "reason": ""}); got != workers/2*each {
			t.Errorf("%s events = %v, want %d", tn, got, workers/2*each)
		}
	}
	if got, _ := sample(families, "sessiond_http_requests_total", map[string]string{"surface": "api", "method": "DELETE", "code": "204"}); got != workers*each {
		t.Errorf("requests = %v, want %d", got, workers*each)
	}
	if got, _ := sample(families, "sessiond_http_request_duration_seconds", map[string]string{"surface": "api"}); got != workers*each {
		t.Errorf("latency observations = %v, want %d", got, workers*each)
	}
}
