package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
)

// Cookie names: over TLS the __Host- prefix makes the browser insist on
// Secure, Path=/ and no Domain; over plain HTTP (--dev) the prefix is not
// allowed, so the name is plain and the UI shows a banner.
const (
	cookieTLS      = "__Host-sessiond_admin"
	cookiePlain    = "sessiond_admin"
	maxFormBytes   = 64 << 10
	csrfFormField  = "csrf"
	sessionDataMax = 1 << 10
)

// principal is the signed-in admin, from their verified session, and the
// session's CSRF token.
type principal struct {
	adminauth.Admin
	CSRF string
}

// IsOperator reports whether the admin is an operator.
func (p *principal) IsOperator() bool { return p != nil && p.Role == tenants.RoleOperator }

// reqCtx is what the wrappers hand a handler.
type reqCtx struct {
	P        *principal        // nil on public pages when signed out
	Tenant   *tenants.Snapshot // set on tenant pages
	TenantID string
}

type handler func(w http.ResponseWriter, r *http.Request, c *reqCtx) error

func (s *server) cookieName(r *http.Request) string {
	if s.isTLS(r) {
		return cookieTLS
	}
	return cookiePlain
}

func (s *server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: token, Path: "/",
		HttpOnly: true, Secure: s.isTLS(r), SameSite: http.SameSiteStrictMode,
	})
}

func (s *server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.isTLS(r), SameSite: http.SameSiteStrictMode,
	})
}

// insecureTransport reports whether this request reached us over plain HTTP,
// and plainHTTPRefused whether that is refused (not --dev).
func (s *server) insecureTransport(r *http.Request) bool { return !s.isTLS(r) }
func (s *server) plainHTTPRefused(r *http.Request) bool  { return !s.isTLS(r) && !s.Dev }

// origin is this server's origin as the browser sees it: the configured
// public origin, else one built from the request's scheme and Host header.
func (s *server) origin(r *http.Request) string {
	if s.PublicOrigin != "" {
		return s.PublicOrigin
	}
	scheme := "http"
	if s.isTLS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sameOrigin is the first CSRF defence of every POST: a browser's
// Sec-Fetch-Site must be same-origin, or else its Origin must be ours.
// Requests with neither header come from clients that are not browsers (or
// very old ones), which no other site can drive; signed-in POSTs still need
// the CSRF token, and the cookie is SameSite=Strict.
func (s *server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	if o := r.Header.Get("Origin"); o != "" {
		return o == s.origin(r)
	}
	return true
}

// caller is who sent r, for the use cases and their events.
func (s *server) caller(r *http.Request) adminauth.Caller {
	return adminauth.Caller{IP: s.clientIP(r), UserAgent: r.UserAgent(), Device: s.device(r), DeviceCookie: s.deviceCookie(r)}
}

func (s *server) meta(r *http.Request, p *principal) sessions.Meta {
	if p == nil {
		return adminauth.SessionMeta(s.caller(r), nil)
	}
	return adminauth.SessionMeta(s.caller(r), &p.Admin)
}

func (s *server) actor(r *http.Request, p *principal) tenants.Actor {
	a := tenants.Actor{IP: s.clientIP(r), UserAgent: r.UserAgent()}
	if p != nil {
		a.Name = "admin:" + p.Email
	}
	return a
}

// device is the browser as the engine stores it; an address that does not
// parse (a unix socket peer) is left out.
func (s *server) device(r *http.Request) sessions.Device {
	d := sessions.Device{UserAgent: r.UserAgent()}
	if len(d.UserAgent) > 1024 {
		d.UserAgent = d.UserAgent[:1024]
	}
	if ip := s.clientIP(r); ip != "" {
		if _, err := netip.ParseAddr(ip); err == nil {
			d.IP = ip
		}
	}
	return d
}

var errSignedOut = fault.New(fault.SessionInvalid, "not signed in")

// authenticate verifies the admin session cookie with the session engine
// (sliding its idle timer), checking csrf when it is given. A token re-signed
// by a newer system key is stored back in the cookie.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request, csrf *string) (*principal, error) {
	ck, err := r.Cookie(s.cookieName(r))
	if err != nil || ck.Value == "" {
		return nil, errSignedOut
	}
	dev := s.device(r)
	v, err := s.Sessions.Verify(r.Context(), tenants.SystemTenantID,
		sessions.VerifyParams{Token: ck.Value, CSRFToken: csrf, Device: &dev}, s.meta(r, nil))
	if err != nil {
		return nil, err
	}
	var d adminauth.SessionData
	if err := json.Unmarshal(v.Session.Data, &d); err != nil || d.TenantID == "" || v.Session.UserID == "" {
		return nil, errSignedOut
	}
	if v.Token != "" {
		s.setSessionCookie(w, r, v.Token)
	}
	p := &principal{Admin: adminauth.Admin{
		AdminID: v.Session.UserID, Email: d.Email, TenantID: d.TenantID, Role: d.Role,
		SessionID: v.Session.ID,
	}, CSRF: v.CSRFToken}
	if p.Role != tenants.RoleOperator {
		p.Role = tenants.RoleAdmin
		if err := s.Tenants.AdminTenantActive(tenants.Admin{TenantID: p.TenantID}); err != nil {
			_ = s.Sessions.Revoke(r.Context(), tenants.SystemTenantID, p.SessionID, s.meta(r, p))
			return nil, err
		}
	}
	if p.Role == tenants.RoleOperator && p.TenantID != tenants.SystemTenantID {
		return nil, errSignedOut
	}
	return p, nil
}

// public wraps a page anyone may see (the login page). POSTs pass the
// origin check. The signed-in admin, if any, is in c.P.
func (s *server) public(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !s.readPost(w, r, false) {
			return
		}
		c := &reqCtx{}
		if p, err := s.authenticate(w, r, nil); err == nil {
			c.P = p
		}
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c, err)
		}
	})
}

// readPost checks a POST's origin and reads its form, answering the error
// page itself when either fails. Signed-in forms must be text (no NUL or
// invalid UTF-8); the sign-in form is the use case's to judge, so that such
// an attempt counts as a failed sign-in.
func (s *server) readPost(w http.ResponseWriter, r *http.Request, textOnly bool) bool {
	if !s.sameOrigin(r) {
		s.renderError(w, r, nil, http.StatusForbidden, "This request came from another site and was refused.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	if textOnly {
		for k, vs := range r.PostForm {
			if !web.IsText(k) || !allText(vs) {
				s.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read: it holds characters that are not text.")
				return false
			}
		}
	}
	return true
}

// signedIn wraps a page that needs a signed-in admin. A POST must pass the
// origin check and carry the session's CSRF token (verified, in constant
// time, by the session engine).
func (s *server) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var csrf *string
		if r.Method == http.MethodPost {
			if !s.readPost(w, r, true) {
				return
			}
			token := r.PostForm.Get(csrfFormField)
			csrf = &token
		}
		p, err := s.authenticate(w, r, csrf)
		if err != nil {
			s.notSignedIn(w, r, err)
			return
		}
		c := &reqCtx{P: p}
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c, err)
		}
	})
}

// notSignedIn answers a request whose session did not verify: a CSRF
// mismatch is 403; otherwise the browser goes to the login page (GET) or
// gets 401 with a link to it (POST, whose form would be lost anyway).
func (s *server) notSignedIn(w http.ResponseWriter, r *http.Request, err error) {
	switch fault.CodeOf(err) {
	case fault.CSRFMismatch:
		s.renderError(w, r, nil, http.StatusForbidden, "The form's security token did not match your session. Reload the page and try again.")
		return
	case fault.Unavailable, fault.Internal:
		s.fail(w, r, &reqCtx{}, err)
		return
	case fault.RateLimited:
		s.renderError(w, r, nil, http.StatusTooManyRequests, "Too many invalid session cookies from your address. Wait a minute and try again.")
		return
	}
	code := "signed_out"
	switch fault.CodeOf(err) {
	case fault.SessionExpiredIdle, fault.SessionExpiredAbsolute:
		code = "expired"
	case fault.Forbidden:
		code = "tenant_unavailable"
	}
	if !errors.Is(err, errSignedOut) {
		s.clearSessionCookie(w, r)
	}
	if r.Method != http.MethodGet {
		s.setFlash(w, r, code, "")
		s.renderError(w, r, nil, http.StatusUnauthorized, "Your session has ended. Sign in again.")
		return
	}
	if code != "signed_out" {
		s.setFlash(w, r, code, "")
	}
	target := "/admin/login"
	if r.URL.Path != "/admin" && r.URL.Path != "/admin/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// inTenant wraps a page of one tenant ({tid}): a tenant admin reaches only
// their own tenant (any other is 404, as if it did not exist); an operator
// reaches every tenant but the system tenant.
func (s *server) inTenant(h handler) http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
		tid := r.PathValue("tid")
		if tid == tenants.SystemTenantID || (!c.P.IsOperator() && tid != c.P.TenantID) {
			return errNotFound
		}
		snap, err := s.Cache.Lookup(tid)
		if fault.Is(err, fault.NotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		c.Tenant, c.TenantID = snap, tid
		return h(w, r, c)
	})
}

// operatorOnly wraps the operators' pages.
func (s *server) operatorOnly(h handler) http.Handler {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
		if !c.P.IsOperator() {
			return fault.New(fault.Forbidden, "only operators can open this page")
		}
		return h(w, r, c)
	})
}

// operatorInTenant is inTenant for operators only.
func (s *server) operatorInTenant(h handler) http.Handler {
	return s.inTenant(func(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
		if !c.P.IsOperator() {
			return fault.New(fault.Forbidden, "only operators can open this page")
		}
		return h(w, r, c)
	})
}

var errNotFound = fault.New(fault.NotFound, "page not found")

// localPath returns p if it is a path of the admin UI (so redirects never
// leave it), else def.
func localPath(p, def string) string {
	if !strings.HasPrefix(p, "/admin") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return def
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || (u.Path != "/admin" && !strings.HasPrefix(u.Path, "/admin/")) {
		return def
	}
	return p
}
