package admin

import (
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/web"
)

// contentSecurityPolicy forbids inline script and style, plugins, framing,
// <base> and cross-origin form targets.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// withHeaders sets the security headers of every admin response.
func (s *server) withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if !strings.HasPrefix(r.URL.Path, "/admin/static/") {
			h.Set("Cache-Control", "no-store")
		}
		if s.isTLS(r) {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// isTLS reports whether the browser reached us over HTTPS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *server) isTLS(r *http.Request) bool { return web.IsHTTPS(r, s.TrustedProxies) }

func (s *server) clientIP(r *http.Request) string { return web.ClientIP(r, s.TrustedProxies) }

// withRecover turns a panic into the generic error page (web.WithRecover
// logs it).
func (s *server) withRecover(next http.Handler) http.Handler {
	return web.WithRecover(s.Log, func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, http.StatusInternalServerError, "Something went wrong on our side.")
	}, next)
}

// withTextOnly answers 404 for a path, and 400 for a query, that is not text
// (NUL, invalid UTF-8): no tenant, admin, session or user id can be such,
// and PostgreSQL refuses to compare with one (a 500 otherwise).
func (s *server) withTextOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !web.IsText(r.URL.Path) {
			s.fail(w, r, nil, errNotFound)
			return
		}
		for k, vs := range r.URL.Query() {
			if !web.IsText(k) || !allText(vs) {
				s.renderError(w, r, nil, http.StatusBadRequest, "The address could not be read.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
