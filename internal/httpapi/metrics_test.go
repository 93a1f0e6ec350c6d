package httpapi_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metric returns the value of one sample line of /metrics, or -1.
func metric(body, sample string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestMetricsCountWhatHappened(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 1 })
	first := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	e.createSession(a.APIKey, map[string]any{"user_id": "alice"})   // evicts the first
	e.verify(a.APIKey, first.Token, nil)                            // unknown now
	e.verify(a.APIKey, first.Token[:len(first.Token)-3]+"abc", nil) // forged

	if r := e.do(req{method: "GET", path: "/metrics"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("metrics without the operator token = %d", r.Status)
	}
	if r := e.do(req{method: "GET", path: "/metrics", token: a.APIKey}); r.Status != http.StatusUnauthorized {
		t.Fatalf("metrics with a tenant key = %d", r.Status)
	}
	r := e.do(req{method: "GET", path: "/metrics", token: operatorToken})
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics = %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	body := string(r.Body)
	tenant := `tenant_id="` + a.ID + `"`
	for sample, want := range map[string]float64{
		`sessiond_events_total{` + tenant + `,type="session.created",reason=""}`:        2,
		`sessiond_events_total{` + tenant + `,type="session.evicted",reason=""}`:        1,
		`sessiond_events_total{` + tenant + `,type="verify.rejected",reason="unknown"}`: 1,
		`sessiond_events_total{` + tenant + `,type="verify.rejected",reason="forged"}`:  1,
		`sessiond_events_total{` + tenant + `,type="policy.changed",reason=""}`:         1,
		`sessiond_http_requests_total{surface="api",method="POST",code="401"}`:          2,
		`sessiond_events_spool_depth`: 0,
	} {
		if got := metric(body, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if strings.Contains(body, "\nsessiond_events_dropped_total{") {
		t.Error("events were dropped")
	}
	if got := metric(body, `sessiond_tenants`); got < 2 { // Acme and the system tenant
		t.Errorf("sessiond_tenants = %v", got)
	}
	count := metric(body, `sessiond_http_request_duration_seconds_count{surface="api"}`)
	inf := metric(body, `sessiond_http_request_duration_seconds_bucket{surface="api",le="+Inf"}`)
	if count < 7 || inf != count {
		t.Errorf("latency histogram: count %v, +Inf bucket %v", count, inf)
	}
	for _, secret := range []string{a.APIKey, first.Token, operatorToken} {
		if strings.Contains(body, secret) {
			t.Fatal("a secret is in the metrics")
		}
	}
}
