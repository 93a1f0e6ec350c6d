// Package admin is sessiond's embedded admin UI: server-rendered pages under
// /admin for tenant admins and operators. It calls the same services as the
// REST API (tenants.Service, sessions.Manager, the events store), and
// adminauth for signing in and changing passwords, and never Redis or SQL
// itself. Admin sessions are sessiond sessions in the reserved
// system tenant.
//
// Every response carries a strict Content-Security-Policy (no inline script
// or style anywhere), nosniff, Referrer-Policy and, over TLS, HSTS. Every
// state change is a POST that passes an Origin / Sec-Fetch-Site check and,
// once signed in, the session's CSRF token, checked by the session engine's
// verify.
package admin

import (
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/sessiond/sessiond/internal/adminauth"
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
	// Throttle bounds failed sign-ins; zero fields take the defaults.
	Throttle adminauth.Throttle
	// NewLimiter makes a named attempt limit shared by every instance
	// (internal/attempts on Redis).
	NewLimiter func(name string, limit int, window time.Duration) adminauth.Limiter
	// DeviceKey signs the known-device cookies (at least 32 bytes, the same
	// on every instance; app derives it from the master key).
	DeviceKey []byte
}

type server struct {
	Deps
	pages    map[string]*template.Template
	assets   *assets
	accounts *adminauth.Service
}

// Mount adds the admin UI to the process's router: every request for
// /admin and everything under /admin/ (Owns) is the UI's, the rest
// is left to the routes registered after it. Templates are parsed here,
// once: a missing or broken one is an error.
func Mount(router *mux.Router, d Deps) error {
	if d.Now == nil {
		d.Now = time.Now
	}
	accounts, err := adminauth.New(adminauth.Options{
		Tenants: d.Tenants, Sessions: d.Sessions, Events: d.Events, Now: d.Now,
		Throttle: d.Throttle, NewLimiter: d.NewLimiter, DeviceKey: d.DeviceKey,
	})
	if err != nil {
		return fmt.Errorf("admin UI: %w", err)
	}
	a, err := loadAssets()
	if err != nil {
		return err
	}
	s := &server{Deps: d, assets: a, accounts: accounts}
	if s.pages, err = s.parsePages(); err != nil {
		return fmt.Errorf("admin UI templates: %w", err)
	}
	s.routes(routed{router.MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool { return Owns(r) }).Subrouter(), s})
	return nil
}

// Owns reports whether r is the admin UI's: its path is /admin or under
// /admin/.
func Owns(r *http.Request) bool {
	return r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/admin/")
}

// routes is the admin UI's route table; one file per page or resource.
func (s *server) routes(mux routed) {
	mux.Handle("GET", "/admin/static/{file}", http.HandlerFunc(s.static))

	mux.Handle("GET", "/admin/login", s.public(s.loginPage))
	mux.Handle("POST", "/admin/login", s.public(s.login))
	mux.Handle("POST", "/admin/logout", s.signedIn(s.logout))
	mux.Handle("GET", "/admin", s.signedIn(s.home))
	mux.Handle("GET", "/admin/", s.signedIn(s.home))

	mux.Handle("GET", "/admin/t/{tid}", s.inTenant(s.dashboard))
	mux.Handle("GET", "/admin/t/{tid}/", s.inTenant(s.dashboard))

	mux.Handle("GET", "/admin/t/{tid}/sessions", s.inTenant(s.sessionsPage))
	mux.Handle("POST", "/admin/t/{tid}/sessions/{sid}/revoke", s.inTenant(s.revokeSession))

	mux.Handle("GET", "/admin/t/{tid}/users/{uid}", s.inTenant(s.userPage))
	mux.Handle("POST", "/admin/t/{tid}/users/{uid}/logout-others", s.inTenant(s.logoutOthers))
	mux.Handle("POST", "/admin/t/{tid}/users/{uid}/logout-all", s.inTenant(s.logoutEverywhere))
	mux.Handle("POST", "/admin/t/{tid}/users/{uid}/end-impersonations", s.inTenant(s.endImpersonations))

	mux.Handle("GET", "/admin/t/{tid}/policy", s.inTenant(s.policyPage))
	mux.Handle("POST", "/admin/t/{tid}/policy", s.inTenant(s.savePolicy))

	mux.Handle("GET", "/admin/t/{tid}/keys", s.inTenant(s.keysPage))
	mux.Handle("POST", "/admin/t/{tid}/keys/rotate", s.inTenant(s.rotateKey))
	mux.Handle("POST", "/admin/t/{tid}/keys/{kid}/retire", s.inTenant(s.retireKey))

	mux.Handle("GET", "/admin/t/{tid}/api-keys", s.inTenant(s.apiKeysPage))
	mux.Handle("POST", "/admin/t/{tid}/api-keys", s.inTenant(s.createAPIKey))
	mux.Handle("POST", "/admin/t/{tid}/api-keys/{id}/revoke", s.inTenant(s.revokeAPIKey))
	mux.Handle("GET", "/admin/t/{tid}/webhooks", s.inTenant(s.webhooksPage))
	mux.Handle("POST", "/admin/t/{tid}/webhooks", s.inTenant(s.createWebhook))
	mux.Handle("POST", "/admin/t/{tid}/webhooks/{id}/test", s.inTenant(s.testWebhook))
	mux.Handle("POST", "/admin/t/{tid}/webhooks/{id}/delete", s.inTenant(s.deleteWebhook))
	mux.Handle("POST", "/admin/t/{tid}/webhooks/{id}/deliveries/{did}/redeliver", s.inTenant(s.redeliverWebhook))

	mux.Handle("GET", "/admin/t/{tid}/events", s.inTenant(s.eventsPage))

	mux.Handle("GET", "/admin/account", s.signedIn(s.accountPage))
	mux.Handle("POST", "/admin/account/password", s.signedIn(s.changePassword))
	mux.Handle("POST", "/admin/account/sessions/{sid}/revoke", s.signedIn(s.revokeMySession))
	mux.Handle("POST", "/admin/account/logout-others", s.signedIn(s.logoutMyOthers))

	mux.Handle("GET", "/admin/tenants", s.operatorOnly(s.tenantsPage))
	mux.Handle("POST", "/admin/tenants", s.operatorOnly(s.createTenant))
	mux.Handle("POST", "/admin/tenants/{tid}/suspend", s.operatorOnly(s.suspendTenant))
	mux.Handle("POST", "/admin/tenants/{tid}/resume", s.operatorOnly(s.resumeTenant))
	mux.Handle("GET", "/admin/t/{tid}/admins", s.operatorInTenant(s.adminsPage))
	mux.Handle("POST", "/admin/t/{tid}/admins", s.operatorInTenant(s.createAdmin))
	mux.Handle("POST", "/admin/t/{tid}/admins/{id}/delete", s.operatorInTenant(s.deleteAdmin))

	mux.Handle("", "", s.public(s.notFound)) // anything else under /admin
}

// routed is the admin UI's part of the router. Each route's handler names
// its route for the access log (the catch-all 404 is left unnamed,
// web.Unmatched) and runs in the UI's chain: security headers, panic
// recovery, text-only paths and queries. GET routes answer HEAD too.
type routed struct {
	*mux.Router
	s *server
}

// Handle registers h for method and path; both empty: for every other
// request.
func (m routed) Handle(method, path string, h http.Handler) {
	if path != "" {
		h = web.Named(path, h)
	}
	h = m.s.withHeaders(m.s.withRecover(m.s.withTextOnly(h)))
	switch method {
	case "":
		m.Router.NewRoute().Handler(h)
	case http.MethodGet:
		m.Router.Handle(path, h).Methods(http.MethodGet, http.MethodHead)
	default:
		m.Router.Handle(path, h).Methods(method)
	}
}

func (s *server) now() time.Time { return s.Now().UTC() }
