package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkChangesRevocationLatency measures how long after sessiond
// answers a DELETE /v1/sessions/{id} the revocation reaches streams
// connected to two instances (one serving the DELETE, one not): one
// revocation per iteration; run with -benchtime=300x for 300 revocations.
// Reported: ack→frame p50/p99 (ms; 0 when the frame came first) over both
// subscribers, and request→frame p99.
//
//	go test -run x -bench ChangesRevocationLatency -benchtime=300x ./internal/httpapi/
func BenchmarkChangesRevocationLatency(b *testing.B) {
	e := newEnv(b)
	other := e.sibling()
	a := e.createTenant("Shop")
	subs := []*changesClient{e.openChanges(a.APIKey, ""), other.openChanges(a.APIKey, "")}
	for _, c := range subs {
		c.expect("ready")
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = e.createSession(a.APIKey, map[string]any{}).Session.ID
	}
	var afterAck, afterStart []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r := e.do(req{method: "DELETE", path: "/v1/sessions/" + ids[i], token: a.APIKey})
		ack := time.Now()
		if r.Status != http.StatusNoContent {
			b.Fatalf("revoke = %d", r.Status)
		}
		for _, c := range subs {
			f := c.expectSessions("revoked", ids[i])
			afterAck = append(afterAck, max(0, f.At.Sub(ack)))
			afterStart = append(afterStart, f.At.Sub(start))
		}
	}
	b.StopTimer()
	b.ReportMetric(pct(afterAck, 50), "ack→frame-p50-ms")
	b.ReportMetric(pct(afterAck, 99), "ack→frame-p99-ms")
	b.ReportMetric(pct(afterAck, 100), "ack→frame-max-ms")
	b.ReportMetric(pct(afterStart, 99), "request→frame-p99-ms")
}

// pct is the p-th percentile of ds, in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return float64(s[i]) / float64(time.Millisecond)
}
