// Package httpapi is sessiond's REST API: the route table, the middleware
// chain (request id, recovery, access log, body limit, authentication,
// OpenAPI validation) and one file of handlers per resource.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gorilla/mux"

	"github.com/sessiond/sessiond/api"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
)

// Check reports whether one dependency is reachable.
type Check func(ctx context.Context) error

// Deps is what the API needs.
type Deps struct {
	Tenants        *tenants.Service
	Cache          *tenants.Cache
	Sessions       *sessions.Manager
	Events         events.Store
	OperatorToken  string
	Checks         map[string]Check // "postgres", "redis"
	Log            *slog.Logger
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	Version        string
	// Metrics writes the Prometheus text exposition for GET /metrics.
	Metrics func(io.Writer) error
}

type server struct {
	Deps
	operatorHash []byte
	validator    *validator
}

// handlerFunc is a handler that returns its error for the one place that
// turns errors into problem+json.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// New returns the API's http.Handler. The caller wraps it (with the admin
// UI) in web.WithRequestID and web.WithAccessLog.
func New(d Deps) (http.Handler, error) {
	doc, err := LoadSpec()
	if err != nil {
		return nil, err
	}
	v, err := newValidator(doc)
	if err != nil {
		return nil, err
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	s := &server{Deps: d, operatorHash: secrets.Hash(d.OperatorToken), validator: v}

	// SkipClean: a path with "." or ".." segments is matched as sent, never
	// redirected to another resource (/v1/users/../sessions is a bad user
	// id, not the tenant-wide listing).
	r := mux.NewRouter().SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, s.Log, fault.New(fault.NotFound, "no such endpoint"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, s.Log, fault.New(fault.MethodNotAllowed, "method %s not allowed here", req.Method))
	})
	s.routes(r)

	var h http.Handler = r
	h = withRecover(s.Log, h)
	h = withCommonHeaders(h)
	return h, nil
}

func (s *server) routes(r *mux.Router) {
	handle := func(method, path string, need access, h handlerFunc) {
		r.Handle(path, s.endpoint(path, need, h)).Methods(method)
	}
	handle("GET", "/healthz", public, s.healthz)
	handle("GET", "/readyz", public, s.readyz)
	handle("GET", "/openapi.yaml", public, s.openapi)
	handle("GET", "/metrics", operator, s.metrics)

	handle("POST", "/v1/tenants", operator, s.createTenant)
	handle("GET", "/v1/tenants", operator, s.listTenants)
	handle("GET", "/v1/tenants/{tenant_id}", operator, s.getTenant)
	handle("PATCH", "/v1/tenants/{tenant_id}", operator, s.updateTenant)
	handle("DELETE", "/v1/tenants/{tenant_id}", operator, s.deleteTenant)
	handle("POST", "/v1/tenants/{tenant_id}/admins", operator, s.createAdmin)
	handle("GET", "/v1/tenants/{tenant_id}/admins", operator, s.listAdmins)
	handle("DELETE", "/v1/tenants/{tenant_id}/admins/{admin_id}", operator, s.deleteAdmin)

	handle("GET", "/v1/policy", tenantAdmin, s.getPolicy)
	handle("PUT", "/v1/policy", tenantAdmin, s.putPolicy)

	handle("GET", "/v1/keys", tenantAdmin, s.listKeys)
	handle("POST", "/v1/keys/rotate", tenantAdmin, s.rotateKey)
	handle("POST", "/v1/keys/{kid}/retire", tenantAdmin, s.retireKey)

	handle("GET", "/v1/api-keys", tenantAdmin, s.listAPIKeys)
	handle("POST", "/v1/api-keys", tenantAdmin, s.createAPIKey)
	handle("DELETE", "/v1/api-keys/{api_key_id}", tenantAdmin, s.revokeAPIKey)

	handle("POST", "/v1/sessions", tenantSessions, s.createSession)
	handle("GET", "/v1/sessions", tenantSessions, s.listSessions)
	handle("POST", "/v1/sessions/verify", tenantSessions, s.verifySession)
	handle("POST", "/v1/sessions/regenerate", tenantSessions, s.regenerateSession)
	handle("POST", "/v1/sessions/revoke", tenantSessions, s.revokeSessionByToken)
	handle("GET", "/v1/sessions/{session_id}", tenantSessions, s.getSession)
	handle("PATCH", "/v1/sessions/{session_id}", tenantSessions, s.patchSession)
	handle("DELETE", "/v1/sessions/{session_id}", tenantSessions, s.revokeSession)
	handle("GET", "/v1/users/{user_id}/sessions", tenantSessions, s.listUserSessions)
	handle("DELETE", "/v1/users/{user_id}/sessions", tenantSessions, s.revokeUserSessions)

	handle("GET", "/v1/events", tenantAdmin, s.listEvents)
}

// endpoint wraps a handler with the per-route chain: naming the route
// (its template, for the access log), body limit, authentication, then
// validation against the OpenAPI document. Errors from any step become
// problem+json.
func (s *server) endpoint(route string, need access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.SetRoute(r, route)
		err := readBody(w, r, s.MaxBodyBytes)
		if err == nil {
			var authed *http.Request
			if authed, err = s.authenticate(r, need); err == nil {
				r = authed
			}
		}
		if err == nil && need != public {
			err = s.validator.validate(r)
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			writeError(w, r, s.Log, err)
		}
	})
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	return nil
}

// noStore marks a response that carries a token or secret as uncacheable.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// actor describes the caller for security events.
func (s *server) actor(r *http.Request) tenants.Actor {
	a := tenants.Actor{IP: web.ClientIP(r, s.TrustedProxies), UserAgent: r.UserAgent()}
	if p := principal(r); p.APIKeyID != "" {
		a.Name = "api_key:" + p.APIKeyID
	} else {
		a.Name = "operator"
	}
	return a
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.Version})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "redis": "ok"}
	status, code := "ready", http.StatusOK
	for name, check := range s.Checks {
		if err := check(ctx); err != nil {
			checks[name] = "unreachable"
			status, code = "unavailable", http.StatusServiceUnavailable
			s.Log.Warn("readiness check failed", slog.String("check", name), slog.String("error", err.Error()))
		}
	}
	if code != http.StatusOK {
		w.Header().Set("Retry-After", "2")
	}
	return writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

func (s *server) metrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	return s.Metrics(w)
}

func (s *server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(api.Spec)
	return err
}
