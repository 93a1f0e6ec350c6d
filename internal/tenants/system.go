package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// SystemStore creates the reserved system tenant. It is separate from Store
// because only start-up needs it.
type SystemStore interface {
	// EnsureSystemTenant stores t with policy p if it is missing, replaces
	// its policy if it exists, and stores k as its active key if it has
	// none. It never creates an API key. Concurrent callers are safe.
	EnsureSystemTenant(ctx context.Context, t Tenant, p Policy, k Key) error
}

// SystemPolicy is the policy of the admin UI's own sessions: the given idle
// and absolute timeouts, rolling, at most 20 sessions per admin (the oldest
// is evicted), and the user agent bound in report mode.
func SystemPolicy(idle, absolute time.Duration) (Policy, error) {
	p := DefaultPolicy()
	p.IdleTimeout = int(idle / time.Second)
	p.AbsoluteTimeout = int(absolute / time.Second)
	p.MaxSessionsPerUser = 20
	p.OnLimit = EvictOldest
	p.Binding.UserAgent = BindingReport
	p.MaxDataBytes = 4 << 10
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("admin session timeouts (SESSIOND_ADMIN_IDLE_TIMEOUT, SESSIOND_ADMIN_ABSOLUTE_TIMEOUT): %w", err)
	}
	return p, nil
}

// EnsureSystemTenant makes sure the reserved system tenant, which holds the
// admin UI's sessions and the operators' admin accounts, exists with an
// active signing key and policy p, and loads it into the cache. It is run at
// every start-up; no API key is ever made for it.
func (s *Service) EnsureSystemTenant(ctx context.Context, store SystemStore, p Policy) error {
	now := s.now()
	t := Tenant{ID: SystemTenantID, Name: "sessiond system", Status: Active, CreatedAt: now, UpdatedAt: now}
	if err := store.EnsureSystemTenant(ctx, t, p, s.newKey(SystemTenantID, now)); err != nil && !fault.Is(err, fault.Conflict) {
		return err
	}
	return s.Cache.Reload(ctx, SystemTenantID)
}
