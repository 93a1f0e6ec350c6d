package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStater is a PostgreSQL connection pool (*pgxpool.Pool).
type PoolStater interface {
	Stat() *pgxpool.Stat
}

// poolCollector reads the pool's statistics at scrape time.
type poolCollector struct {
	pool PoolStater

	maxConns, conns                                        *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires, acquireWait *prometheus.Desc
	newConns, destroyedConns                               *prometheus.Desc
}

func newPoolCollector(p PoolStater) *poolCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sessiond_postgres_pool_"+name, help, labels, nil)
	}
	return &poolCollector{
		pool:             p,
		maxConns:         desc("max_connections", "Most connections the PostgreSQL pool may open."),
		conns:            desc("connections", "Connections of the PostgreSQL pool, by state (acquired, idle, constructing).", "state"),
		acquires:         desc("acquires_total", "Connections acquired from the PostgreSQL pool."),
		emptyAcquires:    desc("empty_acquires_total", "Acquires that had to wait because no connection was idle."),
		canceledAcquires: desc("canceled_acquires_total", "Acquires canceled (by their context) before they got a connection."),
		acquireWait:      desc("acquire_seconds_total", "Time spent acquiring connections from the PostgreSQL pool."),
		newConns:         desc("new_connections_total", "Connections the PostgreSQL pool opened."),
		destroyedConns:   desc("closed_connections_total", "Connections the PostgreSQL pool closed for age, by reason (max_lifetime, max_idle).", "reason"),
	}
}

// Describe sends the descriptions of the pool metrics.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxConns, c.conns, c.acquires, c.emptyAcquires, c.canceledAcquires, c.acquireWait, c.newConns, c.destroyedConns} {
		ch <- d
	}
}

// Collect sends the pool's current statistics.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.maxConns, float64(s.MaxConns()))
	gauge(c.conns, float64(s.AcquiredConns()), "acquired")
	gauge(c.conns, float64(s.IdleConns()), "idle")
	gauge(c.conns, float64(s.ConstructingConns()), "constructing")
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.canceledAcquires, float64(s.CanceledAcquireCount()))
	counter(c.acquireWait, s.AcquireDuration().Seconds())
	counter(c.newConns, float64(s.NewConnsCount()))
	counter(c.destroyedConns, float64(s.MaxLifetimeDestroyCount()), "max_lifetime")
	counter(c.destroyedConns, float64(s.MaxIdleDestroyCount()), "max_idle")
}
