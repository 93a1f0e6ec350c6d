package sessiond

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Config configures the middleware. Only Client is required.
type Config struct {
	Client *Client
	// CookieName is the session cookie's name (default "sid"). A "__Host-"
	// name needs Secure (the default) and Path "/".
	CookieName string
	// Insecure drops the Secure attribute, for development over plain HTTP.
	Insecure bool
	// SameSite defaults to http.SameSiteLaxMode.
	SameSite http.SameSite
	// Path defaults to "/"; Domain to none (host-only, the safest).
	Path, Domain string
	// DisableCSRF turns off the CSRF check. By default POST, PUT, PATCH and
	// DELETE requests that carry a session must send its CSRF token in the
	// X-CSRF-Token header or the "_csrf" form field.
	DisableCSRF bool
	// IdleTimeout and AbsoluteTimeout shorten the tenant policy's for new sessions.
	IdleTimeout, AbsoluteTimeout time.Duration
	// ClientIP returns the end user's IP for device binding (default: the
	// host of r.RemoteAddr; behind a proxy, return the forwarded address you trust).
	ClientIP func(r *http.Request) string
	// OnError answers a request whose session could not be handled (default:
	// a plain-text page with HTTPStatus(err), and Retry-After on 503 and 429).
	OnError func(w http.ResponseWriter, r *http.Request, err error)
}

// Middleware gives every request its session (FromRequest). On each request
// with a session cookie it calls verify once (with the CSRF token on unsafe
// methods), and then, by the problem code:
//
//   - valid: the session is in the request context; when sessiond re-signed
//     the token after a key rotation, the cookie is re-set;
//   - session ended (IsSessionEnded): the cookie is cleared and the request
//     goes on with a new anonymous session;
//   - csrf_mismatch: 403;
//   - sessiond unreachable or unavailable: 503 with Retry-After, cookie kept;
//   - unauthorized or forbidden (API key revoked or lacking the scope): 500,
//     cookie kept — the app is misconfigured, the user's session is fine.
type Middleware struct {
	cfg Config
}

// NewMiddleware checks cfg and fills in its defaults.
func NewMiddleware(cfg Config) (*Middleware, error) {
	if cfg.Client == nil {
		return nil, errors.New("sessiond: Config.Client is required")
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "sid"
	}
	if cfg.SameSite == 0 || cfg.SameSite == http.SameSiteDefaultMode {
		cfg.SameSite = http.SameSiteLaxMode
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.SameSite == http.SameSiteNoneMode && cfg.Insecure {
		return nil, errors.New("sessiond: SameSite=None cookies must be Secure")
	}
	if strings.HasPrefix(cfg.CookieName, "__Host-") && (cfg.Insecure || cfg.Path != "/" || cfg.Domain != "") {
		return nil, errors.New("sessiond: a __Host- cookie must be Secure, with Path / and no Domain")
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if cfg.OnError == nil {
		cfg.OnError = WriteError
	}
	return &Middleware{cfg: cfg}, nil
}

type ctxKey struct{}

// FromRequest returns the request's session; nil if the middleware did not run.
func FromRequest(r *http.Request) *RequestSession { return FromContext(r.Context()) }

// FromContext returns the session the middleware put in ctx, or nil.
func FromContext(ctx context.Context) *RequestSession {
	s, _ := ctx.Value(ctxKey{}).(*RequestSession)
	return s
}

// Handler wraps next with the session handling.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &RequestSession{m: m, w: w, r: r, Data: map[string]any{}, saved: map[string]any{}}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		s.r = r
		c, err := r.Cookie(m.cfg.CookieName)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		p := VerifyParams{Token: c.Value, Device: s.Device()}
		if !m.cfg.DisableCSRF && !safeMethod(r.Method) {
			t := csrfFrom(r)
			p.CSRFToken = &t
		}
		v, err := m.cfg.Client.Verify(r.Context(), p)
		switch {
		case err == nil:
			token := c.Value
			if v.Token != "" {
				token = v.Token
			}
			s.load(token, v.Session, v.CSRFToken, token != c.Value)
		case IsSessionEnded(err):
			s.reset(true)
		default:
			m.cfg.OnError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireLogin lets requests with a logged-in user through; others get
// onMissing (default: 401).
func (m *Middleware) RequireLogin(onMissing http.Handler) func(http.Handler) http.Handler {
	if onMissing == nil {
		onMissing = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Please log in.", http.StatusUnauthorized)
		})
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s := FromRequest(r); s != nil && s.UserID != "" {
				next.ServeHTTP(w, r)
				return
			}
			onMissing.ServeHTTP(w, r)
		})
	}
}

// RequireRecentAuth lets a request through only if the user authenticated
// (logged in, or re-entered their password: Reauthenticate) at most maxAge
// ago, asking sessiond (max_auth_age). Others get onRequired (default: 403).
func (m *Middleware) RequireRecentAuth(maxAge time.Duration, onRequired http.Handler) func(http.Handler) http.Handler {
	return m.guard("RequireRecentAuth", "Please enter your password again.", onRequired,
		func(r *http.Request, s *RequestSession) (bool, error) {
			return s.RecentlyAuthenticated(r.Context(), maxAge)
		})
}

// RequireAAL lets a request through only if a user is logged in and the
// session's assurance level is at least level (2: factors of two different
// kinds, after Login WithAMR or StepUp). Decided from the session this
// request verified (a level only changes with a new token): no call. Others
// get onRequired (default: 403), which should offer the step-up (StepUp).
func (m *Middleware) RequireAAL(level int, onRequired http.Handler) func(http.Handler) http.Handler {
	return m.guard("RequireAAL", "Please confirm with a second factor.", onRequired,
		func(_ *http.Request, s *RequestSession) (bool, error) { return s.UserID != "" && s.AAL() >= level, nil })
}

// RequireFactor lets a request through only if the logged-in user proved
// method (RFC 8176: "otp", "hwk", …) at most maxAge ago. A session without
// the method is refused from the session this request verified (no call);
// otherwise sessiond decides on its clock (max_factor_age; a cache made
// WithCache answers it locally). Others get onRequired (default: 403), which
// should offer the step-up (StepUp(ctx, method)).
func (m *Middleware) RequireFactor(method string, maxAge time.Duration, onRequired http.Handler) func(http.Handler) http.Handler {
	return m.guard("RequireFactor", "Please confirm it is you again.", onRequired,
		func(r *http.Request, s *RequestSession) (bool, error) {
			return s.RecentlyProved(r.Context(), method, maxAge)
		})
}

// guard is the shape of the Require* middlewares: the request's session
// (name needs the Handler first), asked ok; a refusal gets onRequired, or a
// 403 saying refusal; a failed call, OnError.
func (m *Middleware) guard(name, refusal string, onRequired http.Handler, ok func(*http.Request, *RequestSession) (bool, error)) func(http.Handler) http.Handler {
	if onRequired == nil {
		onRequired = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, refusal, http.StatusForbidden)
		})
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := FromRequest(r)
			if s == nil {
				m.cfg.OnError(w, r, errors.New("sessiond: "+name+" needs the middleware's Handler first"))
				return
			}
			pass, err := ok(r, s)
			switch {
			case err != nil:
				m.cfg.OnError(w, r, err)
			case !pass:
				onRequired.ServeHTTP(w, r)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// Error answers r for a failed sessiond call with the configured OnError.
func (m *Middleware) Error(w http.ResponseWriter, r *http.Request, err error) {
	m.cfg.OnError(w, r, err)
}

// WriteError is the default OnError: HTTPStatus(err) with a short text, and
// Retry-After on 503 and 429. It never clears the session cookie.
func WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	status := HTTPStatus(err)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(err)))
	}
	msg := "Something went wrong."
	switch status {
	case http.StatusServiceUnavailable:
		msg = "Back in a moment."
	case http.StatusForbidden:
		msg = "Forbidden."
	}
	http.Error(w, msg, status)
}

func (m *Middleware) setCookie(w http.ResponseWriter, token string, expires time.Time) {
	c := &http.Cookie{
		Name: m.cfg.CookieName, Value: token, Path: m.cfg.Path, Domain: m.cfg.Domain,
		HttpOnly: true, Secure: !m.cfg.Insecure, SameSite: m.cfg.SameSite,
	}
	if token == "" {
		c.MaxAge = -1
		c.Expires = time.Unix(0, 0)
	} else if !expires.IsZero() {
		c.Expires = expires
	}
	// Replace an earlier Set-Cookie for this name in the same response.
	prefix := m.cfg.CookieName + "="
	h := w.Header()
	kept := h.Values("Set-Cookie")[:0:0]
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, prefix) {
			kept = append(kept, v)
		}
	}
	h.Del("Set-Cookie")
	for _, v := range kept {
		h.Add("Set-Cookie", v)
	}
	h.Add("Set-Cookie", c.String())
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// csrfFrom reads the CSRF token from the X-CSRF-Token header or the _csrf
// form field (url-encoded or multipart bodies).
func csrfFrom(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
		return r.PostFormValue("_csrf")
	}
	return ""
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}
