// Package metrics counts what sessiond does, per instance, and writes it in
// the Prometheus text exposition format: every security event by tenant,
// type and reason (so session creation rate, evictions, expiries, verify
// failures by reason and failed admin logins), HTTP requests by surface and
// status with a latency histogram, and dropped events. It uses only the
// standard library; all methods are safe for concurrent use.
package metrics

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/events"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: from a cached policy read to a slow dependency.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

type eventKey struct{ tenant, typ, reason string }

type requestKey struct {
	surface, method string
	code            int
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

// Registry holds the counters of one sessiond instance.
type Registry struct {
	mu       sync.Mutex
	events   map[eventKey]uint64
	requests map[requestKey]uint64
	latency  map[string]*histogram // by surface
	gauges   []Gauge
}

// Gauge is a value read at scrape time, such as the number of cached tenants.
type Gauge struct {
	Name, Help string
	Value      func() float64
}

// New returns an empty registry reporting the given gauges too.
func New(gauges ...Gauge) *Registry {
	return &Registry{
		events:   map[eventKey]uint64{},
		requests: map[requestKey]uint64{},
		latency:  map[string]*histogram{},
		gauges:   gauges,
	}
}

// Recorder counts every event and passes it on to next.
func (r *Registry) Recorder(next events.Recorder) events.Recorder {
	return recorder{r: r, next: next}
}

type recorder struct {
	r    *Registry
	next events.Recorder
}

func (c recorder) Record(e events.Event) {
	k := eventKey{tenant: e.TenantID, typ: string(e.Type), reason: e.Detail["reason"]}
	c.r.mu.Lock()
	c.r.events[k]++
	c.r.mu.Unlock()
	c.next.Record(e)
}

// Middleware counts requests and their latency. surface names the part of
// sessiond a path belongs to ("api", "admin"); it must return few values.
func (r *Registry) Middleware(surface func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, req)
		r.observe(surface(req), req.Method, rec.status, time.Since(start))
	})
}

func (r *Registry) observe(surface, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		method = "other" // keep label values bounded
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[requestKey{surface, method, status}]++
	h := r.latency[surface]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		r.latency[surface] = h
	}
	secs := d.Seconds()
	for i, le := range latencyBuckets {
		if secs <= le {
			h.counts[i]++
			break
		}
	}
	h.sum += secs
	h.count++
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WriteText writes every metric in the Prometheus text format, version 0.0.4;
// dropped and writeFailures are the event writer's counts.
func (r *Registry) WriteText(w io.Writer, dropped, writeFailures int64) error {
	r.mu.Lock()
	evs := slices.SortedFunc(maps.Keys(r.events), func(a, b eventKey) int {
		return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.typ, b.typ), cmp.Compare(a.reason, b.reason))
	})
	reqs := slices.SortedFunc(maps.Keys(r.requests), func(a, b requestKey) int {
		return cmp.Or(cmp.Compare(a.surface, b.surface), cmp.Compare(a.method, b.method), cmp.Compare(a.code, b.code))
	})
	surfaces := slices.Sorted(maps.Keys(r.latency))

	var b strings.Builder
	b.WriteString("# HELP sessiond_events_total Security events recorded, by tenant, type and reason.\n# TYPE sessiond_events_total counter\n")
	for _, k := range evs {
		fmt.Fprintf(&b, "sessiond_events_total{tenant_id=%s,type=%s,reason=%s} %d\n", quote(k.tenant), quote(k.typ), quote(k.reason), r.events[k])
	}
	b.WriteString("# HELP sessiond_http_requests_total HTTP requests answered, by surface, method and status.\n# TYPE sessiond_http_requests_total counter\n")
	for _, k := range reqs {
		fmt.Fprintf(&b, "sessiond_http_requests_total{surface=%s,method=%s,code=\"%d\"} %d\n", quote(k.surface), quote(k.method), k.code, r.requests[k])
	}
	b.WriteString("# HELP sessiond_http_request_duration_seconds Time to answer an HTTP request.\n# TYPE sessiond_http_request_duration_seconds histogram\n")
	for _, s := range surfaces {
		h := r.latency[s]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "sessiond_http_request_duration_seconds_bucket{surface=%s,le=\"%s\"} %d\n", quote(s), strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		fmt.Fprintf(&b, "sessiond_http_request_duration_seconds_bucket{surface=%s,le=\"+Inf\"} %d\n", quote(s), h.count)
		fmt.Fprintf(&b, "sessiond_http_request_duration_seconds_sum{surface=%s} %s\n", quote(s), strconv.FormatFloat(h.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "sessiond_http_request_duration_seconds_count{surface=%s} %d\n", quote(s), h.count)
	}
	gauges := r.gauges
	r.mu.Unlock()

	b.WriteString("# HELP sessiond_events_dropped_total Security events not stored, because the write queue was full or the database refused them (they were still logged).\n# TYPE sessiond_events_dropped_total counter\n")
	fmt.Fprintf(&b, "sessiond_events_dropped_total %d\n", dropped)
	b.WriteString("# HELP sessiond_events_write_failures_total Failed writes of security events to the database (a refused batch, then each event that failed alone).\n# TYPE sessiond_events_write_failures_total counter\n")
	fmt.Fprintf(&b, "sessiond_events_write_failures_total %d\n", writeFailures)
	for _, g := range gauges {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", g.Name, g.Help, g.Name, g.Name, strconv.FormatFloat(g.Value(), 'g', -1, 64))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quote writes a label value with the escapes the text format requires.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
