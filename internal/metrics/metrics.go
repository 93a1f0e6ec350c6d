// Package metrics counts what sessiond does, per instance, with the
// Prometheus client library, and writes it in the Prometheus text exposition
// format: every security event by tenant, type and reason (so session
// creation rate, evictions, expiries, verify failures by reason and failed
// admin logins), HTTP requests by surface, method and status with a latency
// histogram, the security event writer (events dropped by tenant and reason,
// suppressed over a tenant's ceiling, written, failed writes, spool depth), the
// PostgreSQL connection pool, and the Go runtime and process. All methods are
// safe for concurrent use; counting takes no lock shared by all requests.
package metrics

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/web"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: from a cached policy read to a slow dependency.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// Label names of the labelled metrics, in the order they are written.
var (
	eventLabels     = []string{"tenant_id", "type", "reason"}
	requestLabels   = []string{"surface", "method", "code"}
	latencyLabels   = []string{"surface"}
	throttledLabels = []string{"tenant_id", "source"}
	webhookLabels   = []string{"outcome"}
)

// Registry holds the metrics of one sessiond instance.
type Registry struct {
	reg        *prometheus.Registry
	events     *prometheus.CounterVec
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	throttled  *prometheus.CounterVec
	webhooks   *prometheus.CounterVec
	webhookLat *prometheus.HistogramVec
	labelOrder map[string][]string // by metric family name
}

// Gauge is a value read at scrape time, such as the number of cached tenants.
type Gauge struct {
	Name, Help string
	Value      func() float64
}

// EventWriter is the source of the security event writer's counts
// (*events.Writer); see its methods.
type EventWriter interface {
	Drops() []events.TenantCount
	Suppressed() []events.TenantCount
	Written() int64
	WriteFailures() int64
	SpoolDepth() int64
}

// Options says what a Registry reports besides what it counts itself. Every
// field is optional.
type Options struct {
	// Gauges are read at every scrape.
	Gauges []Gauge
	// Counters are read at every scrape too; their values only grow.
	Counters []Gauge
	// Events reports the event writer: sessiond_events_dropped_total,
	// sessiond_events_suppressed_total, sessiond_events_written_total,
	// sessiond_events_write_failures_total and sessiond_events_spool_depth.
	Events EventWriter
	// Pool reports the PostgreSQL connection pool (see PoolStater).
	Pool PoolStater
}

// New returns a registry with the Go runtime and process collectors and
// what o asks for. It panics if two gauges share a name.
func New(o Options) *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_events_total",
			Help: "Security events recorded, by tenant, type and reason.",
		}, eventLabels),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_requests_total",
			Help: "HTTP requests answered, by surface, method and status.",
		}, requestLabels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessiond_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request.",
			Buckets: latencyBuckets,
		}, latencyLabels),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_guess_refused_total",
			Help: "Verify, regenerate and revoke calls refused (429) because their source presented too many forged tokens, by tenant and source (device_ip or caller_ip).",
		}, throttledLabels),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_webhook_deliveries_total",
			Help: "Webhook delivery attempts by this instance, by outcome: delivered (2xx), failed_retrying (will be retried), failed (retried for 24 h, given up).",
		}, webhookLabels),
		webhookLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessiond_webhook_delivery_duration_seconds",
			Help:    "Time of one webhook delivery attempt (to the response's headers, or the failure), by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, webhookLabels),
	}
	r.labelOrder = map[string][]string{
		"sessiond_events_total":                  eventLabels,
		"sessiond_http_requests_total":           requestLabels,
		"sessiond_http_request_duration_seconds": latencyLabels,
		"sessiond_guess_refused_total":           throttledLabels,
	}
	r.reg.MustRegister(r.events, r.requests, r.latency, r.throttled, r.webhooks, r.webhookLat,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Events != nil {
		r.reg.MustRegister(newEventsCollector(o.Events))
		r.labelOrder["sessiond_events_dropped_total"] = dropLabels
	}
	if o.Pool != nil {
		r.reg.MustRegister(newPoolCollector(o.Pool))
	}
	for _, g := range o.Gauges {
		r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.Name, Help: g.Help}, g.Value))
	}
	for _, c := range o.Counters {
		r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.Name, Help: c.Help}, c.Value))
	}
	return r
}

// GuessRefused counts one call refused by the engine's guess limit
// (sessions.Options.OnThrottled).
func (r *Registry) GuessRefused(tenantID, source string) {
	r.throttled.WithLabelValues(tenantID, source).Inc() // an authenticated tenant id: clean text
}

// WebhookAttempt counts one webhook delivery attempt and its latency
// (webhooks.Options.Observe).
func (r *Registry) WebhookAttempt(outcome string, latency time.Duration) {
	r.webhooks.WithLabelValues(outcome).Inc()
	r.webhookLat.WithLabelValues(outcome).Observe(latency.Seconds())
}

// Recorder counts every event (sanitised, see events.Event.Sanitized) and
// passes it on to next.
func (r *Registry) Recorder(next events.Recorder) events.Recorder {
	return recorder{r: r, next: next}
}

type recorder struct {
	r    *Registry
	next events.Recorder
}

func (c recorder) Record(e events.Event) {
	// Label values must be valid UTF-8, as stored events are.
	e = e.Sanitized()
	c.r.events.WithLabelValues(e.TenantID, string(e.Type), e.Detail["reason"]).Inc()
	c.next.Record(e)
}

// Middleware counts requests and their latency. surface names the part of
// sessiond a path belongs to ("api", "admin"); it must return few values.
func (r *Registry) Middleware(surface func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec, ok := w.(*web.Recorder) // the access log's, around this one
		if !ok {
			rec = &web.Recorder{ResponseWriter: w}
			w = rec
		}
		next.ServeHTTP(w, req)
		status := rec.Status
		if status == 0 { // nothing written: net/http answers 200
			status = http.StatusOK
		}
		r.observe(surface(req), req.Method, status, time.Since(start))
	})
}

func (r *Registry) observe(surface, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		method = "other" // keep label values bounded
	}
	var code string
	if status >= 0 && status < len(codes) {
		code = codes[status]
	} else {
		code = strconv.Itoa(status)
	}
	r.requests.WithLabelValues(surface, method, code).Inc()
	r.latency.WithLabelValues(surface).Observe(d.Seconds())
}

// codes are the label values of the status codes, made once (strconv.Itoa
// allocates a string of three digits each time).
var codes = func() (c [600]string) {
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

// WriteText writes every metric in the Prometheus text format, version
// 0.0.4. If a collector fails, it writes nothing and returns the error.
func (r *Registry) WriteText(w io.Writer) error {
	families, err := r.reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: gather: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if order, ok := r.labelOrder[f.GetName()]; ok {
			inLabelOrder(f, order)
		}
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("metrics: write %s: %w", f.GetName(), err)
		}
	}
	return nil
}

// inLabelOrder puts the labels of f's samples in the order sessiond has
// always written them (the client library sorts them by name). Prometheus
// ignores label order; scrapers' and tests' text matching does not.
func inLabelOrder(f *dto.MetricFamily, order []string) {
	for _, m := range f.Metric {
		slices.SortStableFunc(m.Label, func(a, b *dto.LabelPair) int {
			return cmp.Compare(slices.Index(order, a.GetName()), slices.Index(order, b.GetName()))
		})
	}
}
