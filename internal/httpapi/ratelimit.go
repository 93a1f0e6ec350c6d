package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// rateLimiter bounds each tenant's API requests on this instance: a token
// bucket per tenant, holding one second of the tenant's rate, kept in the
// GCRA form (one theoretical arrival time per tenant, moved by
// compare-and-swap). A request costs one map lookup and one CAS: no lock,
// no allocation after a tenant's first request, no Redis. The buckets are
// per instance, so N instances allow a tenant N times its rate.
type rateLimiter struct {
	now func() time.Time
	tat sync.Map // tenant id → *atomic.Int64: Unix ns when the bucket is full again
}

// take spends one request of tenantID's bucket, which refills at rate a
// second and holds rate. When the bucket is empty it spends nothing and
// returns how long until one request is available.
func (l *rateLimiter) take(tenantID string, rate int) (ok bool, wait time.Duration) {
	v, found := l.tat.Load(tenantID)
	if !found {
		v, _ = l.tat.LoadOrStore(tenantID, new(atomic.Int64))
	}
	tat := v.(*atomic.Int64)
	interval := int64(time.Second) / int64(rate)
	burst := interval * int64(rate) // one second, to the interval's precision
	now := l.now().UnixNano()
	for {
		old := tat.Load()
		base := max(old, now)
		if old-now > burst {
			// Only a clock that stepped back puts the bucket further
			// ahead than it holds: start it again from now.
			base = now
		}
		next := base + interval
		if next-now > burst {
			return false, time.Duration(next - now - burst)
		}
		if tat.CompareAndSwap(old, next) {
			return true, 0
		}
	}
}

// errTenantRateLimited is the refusal of a request over the tenant's
// requests_per_second ceiling.
var errTenantRateLimited = fault.New(fault.RateLimited,
	"too many requests for this tenant: over its requests_per_second ceiling on this instance")

// limitRate spends one request of the caller's tenant. Past the tenant's
// ceiling it sets Retry-After and the IETF RateLimit-Policy and RateLimit
// headers (draft-ietf-httpapi-ratelimit-headers: policy "tenant", quota q
// per window w=1 second, r=0 remaining, t seconds until reset) and returns
// rate_limited.
func (s *server) limitRate(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if p.RequestsPerSecond <= 0 {
		return nil
	}
	ok, wait := s.limiter.take(p.TenantID, p.RequestsPerSecond)
	if ok {
		return nil
	}
	secs := strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10)
	if secs == "0" {
		secs = "1"
	}
	h := w.Header()
	h.Set("Retry-After", secs)
	h.Set("RateLimit-Policy", `"tenant";q=`+strconv.Itoa(p.RequestsPerSecond)+`;w=1`)
	h.Set("RateLimit", `"tenant";r=0;t=`+secs)
	return errTenantRateLimited
}
