// Package httpapi is sessiond's REST API: its routes on the process's
// router, the per-route chain (recovery, body limit, authentication, the
// tenant's request rate, validation against api/openapi.yaml), the
// problem+json errors and one file of handlers per resource. The request id
// and access log wrap the whole router (internal/web, internal/app).
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"

	"github.com/sessiond/sessiond/api"

	"github.com/sessiond/sessiond/internal/changes"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// Check reports whether one dependency is reachable.
type Check func(ctx context.Context) error

// Deps is what the API needs.
type Deps struct {
	Tenants        *tenants.Service
	Cache          *tenants.Cache
	Sessions       *sessions.Manager
	Changes        *changes.Hub // GET /v1/changes; nil answers 503
	Events         events.Store
	Webhooks       *webhooks.Service
	OperatorToken  string
	Checks         map[string]Check // "postgres", "redis"
	Log            *slog.Logger
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	Version        string
	// Metrics writes the Prometheus text exposition for GET /metrics.
	Metrics func(io.Writer) error
	// Draining reports that the instance is shutting down: /readyz then
	// answers 503 "draining" whatever its checks say. Nil: never.
	Draining func() bool
	// Now is the clock of the per-tenant rate limits (default time.Now).
	Now func() time.Time
	// Idempotency keeps the answers of the creating POSTs by Idempotency-Key
	// (idempotency.go); zero: the header is ignored.
	Idempotency Idempotency
}

type server struct {
	Deps
	operatorHash []byte
	validator    *validator
	limiter      *rateLimiter
	live         *liveCounts
}

// handlerFunc is a handler that returns its error for the one place that
// turns errors into problem+json.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Mount adds the API's routes to router, the process's router, and
// makes the API the answer to every request no route matched: 404, or 405
// with Allow when the path has routes for other methods.
func Mount(router *mux.Router, d Deps) error {
	doc, err := LoadSpec()
	if err != nil {
		return err
	}
	v, err := newValidator(doc)
	if err != nil {
		return err
	}
	for _, c := range []interface{ checkAgainst(*openapi3.T) error }{createCheck, verifyCheck, regenerateCheck, revokeCheck} {
		if err := c.checkAgainst(withoutIdempotencyKey(doc)); err != nil {
			return err
		}
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &server{Deps: d, operatorHash: secrets.Hash(d.OperatorToken), validator: v, limiter: &rateLimiter{now: d.Now}}
	s.live = &liveCounts{count: d.Sessions.Count, now: d.Now, log: d.Log}

	router.NotFoundHandler = s.plain(func(w http.ResponseWriter, req *http.Request) error {
		return fault.New(fault.NotFound, "no such endpoint")
	})
	router.MethodNotAllowedHandler = s.plain(func(w http.ResponseWriter, req *http.Request) error {
		w.Header().Set("Allow", strings.Join(allowed(router, req), ", "))
		return fault.New(fault.MethodNotAllowed, "method %s not allowed here", req.Method)
	})
	s.routes(&routes{router})
	return nil
}

// New returns the API alone on a router of its own (for tests).
func New(d Deps) (http.Handler, error) {
	r := web.NewRouter()
	return r, Mount(r, d)
}

// allowed lists the methods router has routes for at req's path.
func allowed(router *mux.Router, req *http.Request) []string {
	var list []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		r := req.Clone(req.Context())
		r.Method = m
		var match mux.RouteMatch
		if router.Match(r, &match) && match.MatchErr == nil {
			list = append(list, m)
		}
	}
	return list
}

// routes is the API's part of the router.
type routes struct{ *mux.Router }

func (rt *routes) handle(method, path string, h http.Handler) {
	rt.Handle(path, h).Methods(method)
}

func (s *server) routes(r *routes) {
	handle := func(method, path string, need access, h handlerFunc) {
		r.handle(method, path, s.endpoint(path, need, nil, h))
	}
	// handleBody registers a route whose body a compiled check takes past
	// validation (bodycheck.go).
	handleBody := func(method, path string, need access, b fastBody) {
		r.handle(method, path, s.endpoint(path, need, b, b.general))
	}
	handle("GET", "/healthz", public, s.healthz)
	handle("GET", "/readyz", public, s.readyz)
	handle("GET", "/openapi.yaml", public, s.openapi)
	handle("GET", "/metrics", operator, s.metrics)

	handle("POST", "/v1/tenants", operator, s.idempotent(s.createTenant))
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
	handle("POST", "/v1/keys/rotate", tenantAdmin, s.idempotent(s.rotateKey))
	handle("POST", "/v1/keys/{kid}/retire", tenantAdmin, s.retireKey)

	handle("GET", "/v1/api-keys", tenantAdmin, s.listAPIKeys)
	handle("POST", "/v1/api-keys", tenantAdmin, s.idempotent(s.createAPIKey))
	handle("DELETE", "/v1/api-keys/{api_key_id}", tenantAdmin, s.revokeAPIKey)

	handleBody("POST", "/v1/sessions", tenantSessions, withBody(createCheck, idempotentBody(s, s.createSession)))
	handle("GET", "/v1/sessions", tenantSessions, s.listSessions)
	handleBody("POST", "/v1/sessions/verify", tenantSessions, withBody(verifyCheck, s.verifySession))
	handleBody("POST", "/v1/sessions/regenerate", tenantSessions, withBody(regenerateCheck, idempotentBody(s, s.regenerateSession)))
	handleBody("POST", "/v1/sessions/revoke", tenantSessions, withBody(revokeCheck, s.revokeSessionByToken))
	handle("GET", "/v1/sessions/{session_id}", tenantSessions, s.getSession)
	handle("PATCH", "/v1/sessions/{session_id}", tenantSessions, s.patchSession)
	handle("DELETE", "/v1/sessions/{session_id}", tenantSessions, s.revokeSession)
	handle("GET", "/v1/users/{user_id}/sessions", tenantSessions, s.listUserSessions)
	handle("DELETE", "/v1/users/{user_id}/sessions", tenantSessions, s.revokeUserSessions)

	handle("GET", "/v1/events", tenantAdmin, s.listEvents)
	handle("GET", "/v1/changes", tenantSessions, s.streamChanges)

	handle("POST", "/v1/webhooks", tenantAdmin, s.createWebhook)
	handle("GET", "/v1/webhooks", tenantAdmin, s.listWebhooks)
	handle("GET", "/v1/webhooks/{webhook_id}", tenantAdmin, s.getWebhook)
	handle("PATCH", "/v1/webhooks/{webhook_id}", tenantAdmin, s.patchWebhook)
	handle("DELETE", "/v1/webhooks/{webhook_id}", tenantAdmin, s.deleteWebhook)
	handle("POST", "/v1/webhooks/{webhook_id}/rotate-secret", tenantAdmin, s.rotateWebhookSecret)
	handle("POST", "/v1/webhooks/{webhook_id}/test", tenantAdmin, s.testWebhook)
	handle("GET", "/v1/webhooks/{webhook_id}/deliveries", tenantAdmin, s.listWebhookDeliveries)
	handle("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", tenantAdmin, s.redeliverWebhook)
}

// endpoint wraps a handler with the per-route chain: naming the route
// (its template, for the access log), body limit, authentication, the
// tenant's request rate (API-key routes), then validation against the
// OpenAPI document. Errors from any step become
// problem+json. A route with a compiled body check (fast) skips the
// document's validator for the bodies its check accepts.
func (s *server) endpoint(route string, need access, fast fastBody, h handlerFunc) http.Handler {
	return s.plain(func(w http.ResponseWriter, r *http.Request) error {
		web.SetRoute(r, route)
		body, err := readBody(w, r, s.MaxBodyBytes)
		if err != nil {
			return err
		}
		if r, err = s.authenticate(r, need); err != nil {
			return err
		}
		if need == tenantSessions || need == tenantAdmin {
			if err := s.limitRate(w, r); err != nil {
				return err
			}
		}
		return s.validated(w, r, body, need, fast, h)
	})
}

// plain makes h a handler of the API: nosniff on every response, h's
// error answered as problem+json, a panic as a generic 500.
func (s *server) plain(h handlerFunc) http.Handler {
	return withRecover(s.Log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Content-Type-Options"] = nosniffValue
		if err := h(w, r); err != nil {
			writeError(w, r, s.Log, err)
		}
	}))
}

// validated runs an authenticated request past validation: through fast
// when the route has a compiled body check that accepts the body, else
// through the OpenAPI validator (public routes skip it) and h.
func (s *server) validated(w http.ResponseWriter, r *http.Request, body []byte, need access, fast fastBody, h handlerFunc) error {
	if fast != nil {
		if handled, err := fast.handle(w, r, body); handled {
			return err
		}
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	if need != public {
		if err := s.validator.validate(r); err != nil {
			return err
		}
	}
	return h(w, r)
}

// fastBody is a route with a compiled body check and a handler of its
// decoded body (withBody). handle reports false, having done nothing, when
// the check does not accept the body; general is the route's handler for
// a body the OpenAPI validator accepted.
type fastBody interface {
	handle(w http.ResponseWriter, r *http.Request, body []byte) (handled bool, err error)
	general(w http.ResponseWriter, r *http.Request) error
}

// withBody makes a route of a compiled body check and h, which takes the
// decoded body: the check decodes it, or, past the OpenAPI validator,
// decodeJSON does.
func withBody[T any](check bodyCheck[T], h func(w http.ResponseWriter, r *http.Request, req *T) error) fastBody {
	return typedBody[T]{check: check, h: h}
}

type typedBody[T any] struct {
	check bodyCheck[T]
	h     func(w http.ResponseWriter, r *http.Request, req *T) error
}

func (t typedBody[T]) handle(w http.ResponseWriter, r *http.Request, body []byte) (bool, error) {
	var req T
	if !t.check.accept(r, body, &req) {
		return false, nil
	}
	return true, t.h(w, r, &req)
}

func (t typedBody[T]) general(w http.ResponseWriter, r *http.Request) error {
	var req T
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	return t.h(w, r, &req)
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
	h := w.Header()
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
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

// readyz answers 200 "ready" when every dependency answers, 503
// "unavailable" when one does not, and 503 "draining" once the instance is
// shutting down (its checks are still reported), so that a load balancer
// stops routing to it while it finishes serving.
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
	if s.Draining != nil && s.Draining() {
		status, code = "draining", http.StatusServiceUnavailable
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
