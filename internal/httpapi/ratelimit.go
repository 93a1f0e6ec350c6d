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
	// maxCost is the most one call spends (verify-batch's maxItems): a
	// bucket in debt is never further ahead than one such call puts it.
	maxCost int
}

// take spends cost requests of tenantID's bucket, which refills at rate a
// second and holds rate, when the bucket holds need of them (need ≤ cost,
// cost ≤ maxCost): what it lacks of cost is a debt, which the tenant's
// next requests wait out. When the bucket holds fewer than need it spends
// nothing and returns how long until it holds need.
func (l *rateLimiter) take(tenantID string, rate, cost, need int) (ok bool, wait time.Duration) {
	v, found := l.tat.Load(tenantID)
	if !found {
		v, _ = l.tat.LoadOrStore(tenantID, new(atomic.Int64))
	}
	tat := v.(*atomic.Int64)
	interval := int64(time.Second) / int64(rate)
	burst := interval * int64(rate) // one second, to the interval's precision
	ahead := burst + int64(max(l.maxCost, 1))*interval
	now := l.now().UnixNano()
	for {
		old := tat.Load()
		base := max(old, now)
		if old-now > ahead {
			// Only a clock that stepped back puts the bucket further
			// ahead than a full bucket and the largest debt: start it
			// again from now.
			base = now
		}
		if next := base + int64(need)*interval; next-now > burst {
			return false, time.Duration(next - now - burst)
		}
		if tat.CompareAndSwap(old, base+int64(cost)*interval) {
			return true, 0
		}
	}
}

// refund gives back n requests that take spent for a call then refused.
func (l *rateLimiter) refund(tenantID string, rate, n int) {
	if v, ok := l.tat.Load(tenantID); ok {
		v.(*atomic.Int64).Add(-int64(n) * (int64(time.Second) / int64(rate)))
	}
}

// errTenantRateLimited is the refusal of a request over the tenant's
// requests_per_second ceiling.
var errTenantRateLimited = fault.New(fault.RateLimited,
	"too many requests for this tenant: over its requests_per_second ceiling on this instance")

// limitRate spends one request of the caller's tenant (every API-key call,
// before its body is validated). Past the tenant's ceiling it sets
// Retry-After and the IETF RateLimit-Policy and RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers: policy "tenant", quota q per
// window w=1 second, r=0 remaining, t seconds until reset) and returns
// rate_limited.
func (s *server) limitRate(w http.ResponseWriter, r *http.Request) error {
	return s.spend(w, r, 1, 1)
}

// limitItems spends the rest of a call that counts as n requests
// (verify-batch: one per item), of which limitRate spent one: n-1 more,
// when the bucket still holds min(n, rate)-1. So a call of at most the
// bucket's n is admitted when the bucket holds all n, as n calls would be;
// a larger one when the bucket is full, which it leaves in debt by the
// difference: the tenant's next calls wait until every item is paid for.
// Refused, it answers as limitRate and gives back the request limitRate
// spent: a refused call spends nothing.
func (s *server) limitItems(w http.ResponseWriter, r *http.Request, n int) error {
	p := principal(r)
	if n <= 1 || p.RequestsPerSecond <= 0 {
		return nil
	}
	err := s.spend(w, r, n-1, min(n, p.RequestsPerSecond)-1)
	if err != nil {
		s.limiter.refund(p.TenantID, p.RequestsPerSecond, 1)
	}
	return err
}

// spend spends cost requests of the caller's tenant when its bucket holds
// need (rateLimiter.take), or answers rate_limited as limitRate does.
func (s *server) spend(w http.ResponseWriter, r *http.Request, cost, need int) error {
	p := principal(r)
	if p.RequestsPerSecond <= 0 {
		return nil
	}
	ok, wait := s.limiter.take(p.TenantID, p.RequestsPerSecond, cost, need)
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
