// Package tenants is the domain of sessiond's customers: tenants, their
// session policy, their signing keyrings and their API keys. It holds the
// types and rules, the Store interface a database implements, the Service
// that applies the rules, and the Cache that keeps every instance's request
// path off the database. It imports only the standard library and sessiond's
// own leaf packages.
package tenants

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/fault"
)

// Status is a tenant's lifecycle state.
type Status string

const (
	// Active tenants' API keys work and their sessions verify.
	Active Status = "active"
	// Suspended tenants get 403 on every call and their sessions stop
	// verifying, at once, until resumed.
	Suspended Status = "suspended"
)

// Tenant is one application using sessiond. Purge is the tenant's latest
// session purge, set only by Service.GetTenant.
type Tenant struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Status    Status       `json:"status"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	Purge     *PurgeStatus `json:"purge,omitempty"`
	// Limits are the operator's own ceilings on this tenant; the others
	// follow the deployment defaults (Service.Limits applies them). Not part
	// of the tenant's JSON: the API shows the effective limits.
	Limits LimitOverrides `json:"-"`
}

// TenantPatch is a partial update of a tenant; nil fields are left as they
// are.
type TenantPatch struct {
	Name   *string `json:"name,omitempty"`
	Status *Status `json:"status,omitempty"`
	// Limits changes the operator's ceilings (see LimitsPatch).
	Limits LimitsPatch `json:"limits,omitempty"`
}

// IDPrefix starts every tenant id.
const IDPrefix = "tn_"

// SystemTenantID is reserved for sessiond's own use (the admin UI's sessions).
// It is never listed and cannot be changed through the API.
const SystemTenantID = "tn_system"

// ValidateName checks a tenant name (see validateLabel).
func ValidateName(name string) error { return validateLabel("name", name) }

// validateLabel checks a human-readable name: valid UTF-8, 1 to 100
// characters, not only spaces, and no control characters (which PostgreSQL
// text cannot hold, in the case of NUL, and logs should not).
func validateLabel(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return fault.Invalid(field, "must not be empty")
	}
	if !utf8.ValidString(s) {
		return fault.Invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > 100 {
		return fault.Invalid(field, "must be at most 100 characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fault.Invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// Page is a cursor position in a listing. An empty cursor starts at the
// beginning; the listing returns the cursor of its next page, or "" at the end.
type Page struct {
	Cursor string
	Limit  int
}

// DefaultPageLimit and MaxPageLimit bound every listing.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Normalize applies the default and the maximum to p.Limit.
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit > MaxPageLimit {
		p.Limit = MaxPageLimit
	}
	return p
}

// Store is the system of record for tenants. Every method returns a
// fault.NotFound error for a missing tenant, key or API key, and a
// fault.Unavailable error when the database cannot be reached.
type Store interface {
	// CreateTenant stores a new tenant with its policy, first signing key and
	// first API key, all or nothing.
	CreateTenant(ctx context.Context, t Tenant, p Policy, k Key, ak APIKey) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// ListTenants lists tenants in creation order, excluding the system tenant.
	ListTenants(ctx context.Context, page Page) ([]Tenant, string, error)
	// UpdateTenant applies patch. Suspending also stores a pending purge
	// job for the tenant (restarting any earlier one) in the same
	// transaction; resuming while the tenant's purge job is not done returns
	// fault.Conflict and changes nothing.
	// Its Limits must be valid (the Service checks them): a set value
	// overrides the default, nil removes the override.
	UpdateTenant(ctx context.Context, id string, patch TenantPatch, now time.Time) (Tenant, error)
	// DeleteTenant deletes the tenant with everything it owns and stores a
	// pending purge job for its sessions (which outlives the tenant), in one
	// transaction.
	DeleteTenant(ctx context.Context, id string, now time.Time) error

	// LoadState returns everything the cache holds about one tenant. Key
	// secrets are still sealed.
	LoadState(ctx context.Context, id string) (State, error)
	// LoadAllStates returns the state of every tenant.
	LoadAllStates(ctx context.Context) ([]State, error)
	// APIKeyTenant returns the id of the tenant API key id belongs to
	// (revoked or not); fault.NotFound if there is no such key.
	APIKeyTenant(ctx context.Context, id string) (string, error)

	PutPolicy(ctx context.Context, tenantID string, p Policy, now time.Time) error

	// RotateKey makes next the active key and moves the current active key to
	// retiring until retiresAt, atomically. When maxRetiring > 0 and the
	// keyring already holds maxRetiring keys still retiring at now, it
	// changes nothing and returns fault.Conflict.
	RotateKey(ctx context.Context, tenantID string, next Key, retiresAt, now time.Time, maxRetiring int) error
	// RetireKey retires a retiring key now. It returns fault.Conflict for the
	// active key.
	RetireKey(ctx context.Context, tenantID, kid string, now time.Time) (Key, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	// RevokeAPIKey marks an API key revoked; it stops working at once.
	RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error
}

// State is a snapshot of one tenant with everything the request path needs.
type State struct {
	Tenant  Tenant
	Policy  Policy
	Keys    []Key
	APIKeys []APIKey
}
