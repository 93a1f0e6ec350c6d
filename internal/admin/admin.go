// Package admin is sessiond's embedded admin UI: server-rendered pages under
// /admin for tenant admins and operators. It calls the same services as the
// REST API (tenants.Service, sessions.Manager, the events store) and never
// Redis or SQL itself. Admin sessions are sessiond sessions in the reserved
// system tenant.
//
// Every response carries a strict Content-Security-Policy (no inline script
// or style anywhere), nosniff, Referrer-Policy and, over TLS, HSTS. Every
// state change is a POST that passes an Origin / Sec-Fetch-Site check and,
// once signed in, the session's CSRF token, checked by the session engine's
// verify.
package admin

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// Deps is what the admin UI needs.
type Deps struct {
	Tenants  *tenants.Service
	Cache    *tenants.Cache
	Sessions *sessions.Manager
	// Events records the UI's own security events (admin logins).
	Events events.Recorder
	// EventStore lists and Counter aggregates stored events.
	EventStore events.Store
	Counter    events.Counter
	// Webhooks manages the tenant's webhook endpoints.
	Webhooks *webhooks.Service
	Log      *slog.Logger
	// Now is the clock (default time.Now).
	Now            func() time.Time
	TrustedProxies []netip.Prefix
	// PublicOrigin is the origin browsers reach the UI at
	// (SESSIOND_PUBLIC_URL, e.g. "https://sessions.example.com"). When set,
	// the CSRF origin check compares Origin with it; when empty, with the
	// scheme and Host header of the request.
	PublicOrigin string
	// Dev allows signing in over plain HTTP, with a cookie that is not
	// Secure and a banner saying so. Without it, plain HTTP shows an
	// explanation instead of the login form.
	Dev bool
	// Limits bound failed logins; zero fields take the defaults.
	Limits LoginLimits
	// NewLimiter makes a named failure limit shared by every instance
	// (internal/limits on Redis).
	NewLimiter func(name string, limit int, window time.Duration) Limiter
	// DeviceKey signs the known-device cookies (at least 32 bytes, the same
	// on every instance; app derives it from the master key).
	DeviceKey []byte
}

// Limiter bounds the attempts of each key (a source, an account) in a
// window, shared by every instance. Its methods return fault.Unavailable
// when the shared store cannot be reached.
type Limiter interface {
	// Reserve counts one attempt of key at now before it is checked, or
	// refuses it, atomically. With maxDelay 0 the limit is hard (at most
	// the limit in any window); with maxDelay > 0, past the limit each
	// attempt must wait a delay after the latest one that doubles from one
	// second up to maxDelay, and a key quiet for a window starts afresh.
	// A reservation has an id; a refusal has none, says how long to wait,
	// and whether it is the first refusal of the window.
	Reserve(ctx context.Context, key string, now time.Time, maxDelay time.Duration) (id string, wait time.Duration, firstRefusal bool, err error)
	// Release gives reservation id back: the attempt was not a failure.
	Release(ctx context.Context, key, id string) error
	// Reset forgets every attempt of key.
	Reset(ctx context.Context, key string) error
}

// LoginLimits bound failed sign-ins and password changes (wrong current
// passwords count as failed sign-ins). A source is a client IP: an IPv4
// address, or an IPv6 /64 (web.SourceKey).
//
// From a browser that is not a known device of the account:
//   - per source, a hard limit: PerIP failures (any accounts) in a sliding
//     Window, then 429 until they age out;
//   - per (account, source) pair, a delay: PerPair failures pass freely,
//     then each attempt must come a delay after the pair's latest failure
//     that doubles from one second up to MaxDelay; a pair without a failure
//     for a Window starts afresh. An attacker's failures slow only the
//     attacker's own pair, never the same account from another source;
//   - per account, a ceiling: PerAccount failures from every source in a
//     sliding Window, then 429 for every browser that is not a known device
//     until they age out. It exceeds PerIP, so one source alone can never
//     reach it.
//
// A known device (its signed cookie from a successful sign-in of that
// account) skips all three and has a delay of its own, as a pair's: PerPair
// free failures, then doubling up to MaxDelay.
//
// Each limit records one admin.login_failed (or
// admin.password_change_failed) event with reason rate_limited per Window.
type LoginLimits struct {
	PerIP      int           // default 20
	PerPair    int           // default 5
	PerAccount int           // default 5 × PerIP (100)
	Window     time.Duration // default 15 min
	MaxDelay   time.Duration // default 1 min
}

// withDefaults fills the zero fields of l.
func (l LoginLimits) withDefaults() LoginLimits {
	if l.PerIP <= 0 {
		l.PerIP = 20
	}
	if l.PerPair <= 0 {
		l.PerPair = 5
	}
	if l.PerAccount <= 0 {
		l.PerAccount = 5 * l.PerIP
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = time.Minute
	}
	return l
}

type server struct {
	Deps
	pages    map[string]*template.Template
	assets   *assets
	accounts *accounts
}

// New returns the admin UI, to be mounted at /admin (it serves /admin and
// everything under /admin/). Templates are parsed here, once: a missing or
// broken one is an error.
func New(d Deps) (http.Handler, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if len(d.DeviceKey) < 32 {
		return nil, fmt.Errorf("admin UI: the known-device cookie key must have 32 bytes or more")
	}
	d.Limits = d.Limits.withDefaults()
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	s := &server{Deps: d, assets: a}
	s.accounts = &accounts{
		tenants: d.Tenants, sessions: d.Sessions, events: d.Events, now: s.now,
		devices: devices{key: d.DeviceKey}, maxDelay: d.Limits.MaxDelay,
		ipLimit:      d.NewLimiter("admin-login-ip", d.Limits.PerIP, d.Limits.Window),
		pairLimit:    d.NewLimiter("admin-login-pair", d.Limits.PerPair, d.Limits.Window),
		accountLimit: d.NewLimiter("admin-login-account-ceiling", d.Limits.PerAccount, d.Limits.Window),
		deviceLimit:  d.NewLimiter("admin-login-device", d.Limits.PerPair, d.Limits.Window),
	}
	if s.pages, err = s.parsePages(); err != nil {
		return nil, fmt.Errorf("admin UI templates: %w", err)
	}
	mux := http.NewServeMux()
	s.routes(routed{mux})
	var h http.Handler = mux
	h = s.withTextOnly(h)
	h = s.withRecover(h)
	h = s.withHeaders(h)
	return h, nil
}

// routes is the admin UI's route table; one file per page or resource.
func (s *server) routes(mux routed) {
	mux.Handle("GET /admin/static/{file}", http.HandlerFunc(s.static))

	mux.Handle("GET /admin/login", s.public(s.loginPage))
	mux.Handle("POST /admin/login", s.public(s.login))
	mux.Handle("POST /admin/logout", s.signedIn(s.logout))
	mux.Handle("GET /admin", s.signedIn(s.home))
	mux.Handle("GET /admin/{$}", s.signedIn(s.home))

	mux.Handle("GET /admin/t/{tid}", s.inTenant(s.dashboard))
	mux.Handle("GET /admin/t/{tid}/{$}", s.inTenant(s.dashboard))

	mux.Handle("GET /admin/t/{tid}/sessions", s.inTenant(s.sessionsPage))
	mux.Handle("POST /admin/t/{tid}/sessions/{sid}/revoke", s.inTenant(s.revokeSession))

	mux.Handle("GET /admin/t/{tid}/users/{uid}", s.inTenant(s.userPage))
	mux.Handle("POST /admin/t/{tid}/users/{uid}/logout-others", s.inTenant(s.logoutOthers))
	mux.Handle("POST /admin/t/{tid}/users/{uid}/logout-all", s.inTenant(s.logoutEverywhere))

	mux.Handle("GET /admin/t/{tid}/policy", s.inTenant(s.policyPage))
	mux.Handle("POST /admin/t/{tid}/policy", s.inTenant(s.savePolicy))

	mux.Handle("GET /admin/t/{tid}/keys", s.inTenant(s.keysPage))
	mux.Handle("POST /admin/t/{tid}/keys/rotate", s.inTenant(s.rotateKey))
	mux.Handle("POST /admin/t/{tid}/keys/{kid}/retire", s.inTenant(s.retireKey))

	mux.Handle("GET /admin/t/{tid}/api-keys", s.inTenant(s.apiKeysPage))
	mux.Handle("POST /admin/t/{tid}/api-keys", s.inTenant(s.createAPIKey))
	mux.Handle("POST /admin/t/{tid}/api-keys/{id}/revoke", s.inTenant(s.revokeAPIKey))
	mux.Handle("GET /admin/t/{tid}/webhooks", s.inTenant(s.webhooksPage))
	mux.Handle("POST /admin/t/{tid}/webhooks", s.inTenant(s.createWebhook))
	mux.Handle("POST /admin/t/{tid}/webhooks/{id}/test", s.inTenant(s.testWebhook))
	mux.Handle("POST /admin/t/{tid}/webhooks/{id}/delete", s.inTenant(s.deleteWebhook))
	mux.Handle("POST /admin/t/{tid}/webhooks/{id}/deliveries/{did}/redeliver", s.inTenant(s.redeliverWebhook))

	mux.Handle("GET /admin/t/{tid}/events", s.inTenant(s.eventsPage))

	mux.Handle("GET /admin/account", s.signedIn(s.accountPage))
	mux.Handle("POST /admin/account/password", s.signedIn(s.changePassword))
	mux.Handle("POST /admin/account/sessions/{sid}/revoke", s.signedIn(s.revokeMySession))
	mux.Handle("POST /admin/account/logout-others", s.signedIn(s.logoutMyOthers))

	mux.Handle("GET /admin/tenants", s.operatorOnly(s.tenantsPage))
	mux.Handle("POST /admin/tenants", s.operatorOnly(s.createTenant))
	mux.Handle("POST /admin/tenants/{tid}/suspend", s.operatorOnly(s.suspendTenant))
	mux.Handle("POST /admin/tenants/{tid}/resume", s.operatorOnly(s.resumeTenant))
	mux.Handle("GET /admin/t/{tid}/admins", s.operatorInTenant(s.adminsPage))
	mux.Handle("POST /admin/t/{tid}/admins", s.operatorInTenant(s.createAdmin))
	mux.Handle("POST /admin/t/{tid}/admins/{id}/delete", s.operatorInTenant(s.deleteAdmin))

	mux.Handle("/admin/", s.public(s.notFound))
}

// routed is a ServeMux whose handlers name their route (the pattern) for
// the access log; the catch-all 404 is left unnamed (web.Unmatched).
type routed struct{ *http.ServeMux }

func (m routed) Handle(pattern string, h http.Handler) {
	if pattern != "/admin/" {
		h = web.Routed(h)
	}
	m.ServeMux.Handle(pattern, h)
}

func (s *server) now() time.Time { return s.Now().UTC() }
