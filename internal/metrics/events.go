package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/internal/events"
)

// dropLabels are the labels of sessiond_events_dropped_total, in order.
var dropLabels = []string{"tenant_id", "reason"}

// eventsCollector reads the event writer's counts at every scrape.
type eventsCollector struct {
	w                                             EventWriter
	dropped, suppressed, written, failures, spool *prometheus.Desc
}

func newEventsCollector(w EventWriter) *eventsCollector {
	return &eventsCollector{
		w: w,
		dropped: prometheus.NewDesc("sessiond_events_dropped_total",
			"Security events not stored in PostgreSQL, by tenant and reason; each was still logged as its JSON line, and each drop is logged with its reason. "+
				"Reasons: tenant_queue_full (the tenant's own share of the memory queue was full), "+
				"queue_full (the memory queue of all tenants was full and this tenant held the largest share), "+
				"storage_unavailable (PostgreSQL and the Redis spool were both unavailable past the memory bound, or the instance stopped meanwhile), "+
				"spool_full (PostgreSQL was unavailable and the spool held SESSIOND_EVENT_SPOOL_MAX events), "+
				"rejected (PostgreSQL refused the event even alone, or its spooled copy was unreadable).",
			dropLabels, nil),
		suppressed: prometheus.NewDesc("sessiond_events_suppressed_total",
			"Security events over their tenant's events-per-minute ceiling, stored only as counts in one events.suppressed event per tenant and minute, by tenant.",
			[]string{"tenant_id"}, nil),
		written: prometheus.NewDesc("sessiond_events_written_total",
			"Security events this instance stored in PostgreSQL, directly or from the spool.", nil, nil),
		failures: prometheus.NewDesc("sessiond_events_write_failures_total",
			"Failed writes of security events to PostgreSQL: each failed batch, and each event that then failed alone. A failed write is retried or spooled, not lost.", nil, nil),
		spool: prometheus.NewDesc("sessiond_events_spool_depth",
			"Security events waiting in the Redis spool for PostgreSQL, as this instance last saw it.", nil, nil),
	}
}

func (c *eventsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.dropped, c.suppressed, c.written, c.failures, c.spool} {
		ch <- d
	}
}

func (c *eventsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.w.Drops() {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(d.Count), clean(d.TenantID), string(d.Reason))
	}
	for _, s := range c.w.Suppressed() {
		ch <- prometheus.MustNewConstMetric(c.suppressed, prometheus.CounterValue, float64(s.Count), clean(s.TenantID))
	}
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(c.w.Written()))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(c.w.WriteFailures()))
	ch <- prometheus.MustNewConstMetric(c.spool, prometheus.GaugeValue, float64(c.w.SpoolDepth()))
}

// clean makes a tenant id a valid label value (it is sanitised already
// when it comes from a recorded event).
func clean(s string) string { return events.Event{TenantID: s}.Sanitized().TenantID }
