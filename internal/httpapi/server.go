// Package httpapi is sessiond's REST API: its routes on the process's
// router, the per-route chain (recovery, body limit, authentication, the
// tenant's request rate, validation against api/openapi.yaml), the
// problem+json errors and one file of handlers per resource. The request id
// and access log wrap the whole router (internal/web, internal/app).
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

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

// call is what endpoint learns of a request for the steps and the handler
// after it, kept in the request's web state (web.Keep) rather than in a
// copy of the request per value.
type call struct {
	principal tenants.Principal
	op        *operation // nil for the public routes
	body      []byte     // read once (readBody); nil when there was none
	// checked: the body passed op's compiled check (bodyschema.go).
	checked bool
}

// callOf returns r's call (an empty one outside endpoint).
func callOf(r *http.Request) *call {
	if c, ok := web.Kept(r.Context()).(*call); ok {
		return c
	}
	return &call{}
}

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
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	batch := 0
	for _, name := range []string{"SessionCreateBatch", "SessionVerifyBatch"} {
		n, err := maxItems(doc, name, "items")
		if err != nil {
			return err
		}
		batch = max(batch, n)
	}
	s := &server{Deps: d, operatorHash: secrets.Hash(d.OperatorToken), validator: v, limiter: &rateLimiter{now: d.Now, maxCost: batch}}
	s.live = &liveCounts{count: d.Sessions.Count, now: d.Now, log: d.Log}

	router.NotFoundHandler = s.plain(func(w http.ResponseWriter, req *http.Request) error {
		return fault.New(fault.NotFound, "no such endpoint")
	})
	router.MethodNotAllowedHandler = s.plain(func(w http.ResponseWriter, req *http.Request) error {
		w.Header().Set("Allow", strings.Join(allowed(router, req), ", "))
		return fault.New(fault.MethodNotAllowed, "method %s not allowed here", req.Method)
	})
	rt := &routes{router: router, s: s}
	s.routes(rt)
	return rt.err
}

// New returns the API alone on a router of its own (for tests).
func New(d Deps) (http.Handler, error) {
	r := web.NewRouter()
	return r, Mount(r.Router, d)
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

// routes is the API's part of the router. Each route's operation in the
// document is found here, once, for the validator.
type routes struct {
	router *mux.Router
	s      *server
	err    error // the first route the document does not describe
}

// handle registers h for method and path (a template of api/openapi.yaml)
// behind the per-route chain (endpoint).
func (rt *routes) handle(method, path string, need access, h handlerFunc) {
	var op *operation
	if need != public {
		var err error
		if op, err = rt.s.validator.operation(method, path); err != nil && rt.err == nil {
			rt.err = err
		}
	}
	rt.router.Handle(path, rt.s.endpoint(path, need, op, h)).Methods(method)
}

// routes is the API's route table: one line per route.
func (s *server) routes(r *routes) {
	handle := r.handle
	// The session routes first: the router tries routes in this order,
	// and they are the hot ones (a template with a variable must follow
	// the fixed paths it would also match, e.g. /v1/sessions/verify).
	handle("POST", "/v1/sessions", tenantSessions, withBody(idempotentBody(s, s.createSession)))
	handle("GET", "/v1/sessions", tenantSessions, s.listSessions)
	handle("POST", "/v1/sessions/verify", tenantSessions, withBody(s.verifySession))
	handle("POST", "/v1/sessions/create-batch", tenantSessions, withBody(s.createSessions))
	handle("POST", "/v1/sessions/verify-batch", tenantSessions, withBody(s.verifySessions))
	handle("POST", "/v1/sessions/regenerate", tenantSessions, withBody(idempotentBody(s, s.regenerateSession)))
	handle("POST", "/v1/sessions/revoke", tenantSessions, withBody(s.revokeSessionByToken))
	handle("GET", "/v1/sessions/{session_id}", tenantSessions, s.getSession)
	handle("PATCH", "/v1/sessions/{session_id}", tenantSessions, s.patchSession)
	handle("DELETE", "/v1/sessions/{session_id}", tenantSessions, s.revokeSession)
	handle("GET", "/v1/users/{user_id}/sessions", tenantSessions, s.listUserSessions)
	handle("DELETE", "/v1/users/{user_id}/sessions", tenantSessions, s.revokeUserSessions)

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
// (its template, for the access log), reading the body once under the
// size limit, authentication, the tenant's request rate (API-key routes),
// then validation against the route's operation in the OpenAPI document
// (op; nil for public routes). Errors from any step become problem+json.
func (s *server) endpoint(route string, need access, op *operation, h handlerFunc) http.Handler {
	return s.plain(func(w http.ResponseWriter, r *http.Request) error {
		c := &call{op: op}
		r = web.Keep(r, c)
		web.SetRoute(r, route)
		var err error
		if c.body, err = readBody(w, r, s.MaxBodyBytes); err != nil {
			return err
		}
		if c.principal, err = s.authenticate(r, need); err != nil {
			return err
		}
		if need == tenantSessions || need == tenantAdmin {
			if err := s.limitRate(w, r); err != nil {
				return err
			}
		}
		if op != nil {
			if c.checked, err = s.validator.validate(r, op, c.body); err != nil {
				return err
			}
		}
		return h(w, r)
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

// withBody makes a handler of h, which takes the validated JSON body
// decoded into a T: a type of the domain whose JSON names are the
// document's (e.g. sessions.VerifyParams).
func withBody[T any](h func(w http.ResponseWriter, r *http.Request, req *T) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req T
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
		return h(w, r, &req)
	}
}

// Shared header values. net/http never writes into a header's slice and
// Header.Add appends to a full one (len = cap = 1), which copies it.
var (
	contentTypeJSON    = []string{"application/json"}
	contentTypeProblem = []string{"application/problem+json"}
	noStoreValue       = []string{"no-store"}
	noCacheValue       = []string{"no-cache"}
	nosniffValue       = []string{"nosniff"}
)

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header()["Content-Type"] = contentTypeJSON
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
