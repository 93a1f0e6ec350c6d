package admin

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

type loginData struct {
	Email   string
	Next    string
	Error   string
	Refused bool // plain HTTP outside --dev
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	next := localPath(r.URL.Query().Get("next"), "")
	if c.P != nil {
		http.Redirect(w, r, localPath(next, s.homeOf(c.P)), http.StatusSeeOther)
		return nil
	}
	s.render(w, r, nil, http.StatusOK, "login", page{Title: "Sign in", Data: loginData{Next: next, Refused: s.plainHTTPRefused(r)}})
	return nil
}

// login signs an admin in. Its CSRF defence is the origin check (the form
// has no session yet to carry a token from); see docs/admin-ui.md. Failed
// attempts count per client IP and per account; past either limit the
// answer is 429 whatever the password, and an admin.login_failed event
// (reason rate_limited) is recorded once per window. On success any admin
// session the browser still had is revoked and a new one is created: a new
// token at every sign-in.
func (s *server) login(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	next := localPath(r.PostForm.Get("next"), "")
	data := loginData{Email: email, Next: next}
	if s.plainHTTPRefused(r) {
		data.Refused = true
		s.render(w, r, nil, http.StatusForbidden, "login", page{Title: "Sign in", Data: data})
		return nil
	}
	now := s.now()
	ip := s.clientIP(r)
	account := strings.ToLower(email)
	ipBlocked, ipFirst, err := s.ipLimit.Blocked(r.Context(), ip, now)
	if err != nil {
		return err
	}
	accBlocked, accFirst, err := s.accLimit.Blocked(r.Context(), account, now)
	if err != nil {
		return err
	}
	if ipBlocked || accBlocked {
		if ipFirst || accFirst {
			scope := "ip"
			if accBlocked {
				scope = "account"
			}
			s.recordLogin(r, s.Tenants.AdminTenantOf(r.Context(), email), events.AdminLoginFailed, "", email,
				map[string]string{"reason": "rate_limited", "limit": scope})
		}
		w.Header().Set("Retry-After", "900")
		data.Error = "Too many failed sign-in attempts. Wait 15 minutes and try again."
		s.render(w, r, nil, http.StatusTooManyRequests, "login", page{Title: "Sign in", Data: data})
		return nil
	}

	a, err := s.Tenants.AuthenticateAdmin(r.Context(), email, password)
	switch {
	case err == nil:
		if err := s.accLimit.Reset(r.Context(), account); err != nil {
			return err
		}
	case fault.Is(err, fault.Unauthorized):
		if err := s.ipLimit.Fail(r.Context(), ip, now); err != nil {
			return err
		}
		if err := s.accLimit.Fail(r.Context(), account, now); err != nil {
			return err
		}
		tenantID := a.TenantID
		if tenantID == "" {
			tenantID = tenants.SystemTenantID
		}
		reason := "bad_password"
		if a.ID == "" {
			reason = "unknown_email"
		}
		s.recordLogin(r, tenantID, events.AdminLoginFailed, a.ID, email, map[string]string{"reason": reason})
		data.Error = "Wrong email or password."
		s.render(w, r, nil, http.StatusUnauthorized, "login", page{Title: "Sign in", Data: data})
		return nil
	case fault.Is(err, fault.Forbidden):
		s.recordLogin(r, a.TenantID, events.AdminLoginFailed, a.ID, email, map[string]string{"reason": "tenant_suspended"})
		data.Error = "Your tenant is suspended. Ask your operator."
		s.render(w, r, nil, http.StatusForbidden, "login", page{Title: "Sign in", Data: data})
		return nil
	default:
		return err
	}

	if c.P != nil {
		_ = s.Sessions.Revoke(r.Context(), tenants.SystemTenantID, c.P.SessionID, s.meta(r, c.P))
	}
	sd, _ := json.Marshal(sessionData{TenantID: a.TenantID, Email: a.Email, Role: a.Role()})
	created, err := s.Sessions.Create(r.Context(), tenants.SystemTenantID, sessions.CreateParams{
		UserID: a.ID, Data: sd, Device: s.device(r),
	}, sessions.Meta{IP: ip, UserAgent: r.UserAgent(), Actor: "admin:" + a.Email})
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, created.Token)
	s.recordLogin(r, a.TenantID, events.AdminLoginSucceeded, a.ID, a.Email, map[string]string{"admin_session_id": created.Session.ID})
	p := &principal{AdminID: a.ID, TenantID: a.TenantID, Role: a.Role(), Email: a.Email}
	return s.redirect(w, r, localPath(next, s.homeOf(p)), "signed_in", flashSafe(a.Email))
}

// logout ends the admin's session.
func (s *server) logout(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if err := s.Sessions.Revoke(r.Context(), tenants.SystemTenantID, c.P.SessionID, s.meta(r, c.P)); err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	s.clearSessionCookie(w, r)
	return s.redirect(w, r, "/admin/login", "signed_out", "")
}

// home sends an admin to their start page.
func (s *server) home(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	http.Redirect(w, r, s.homeOf(c.P), http.StatusSeeOther)
	return nil
}

func (s *server) homeOf(p *principal) string {
	if p.IsOperator() {
		return "/admin/tenants"
	}
	return "/admin/t/" + p.TenantID + "/"
}

// recordLogin records an admin sign-in event in the admin's tenant (the
// system tenant for operators and unknown emails). The email is kept only
// when it is a well-formed address, so a password typed into the email
// field is not stored.
func (s *server) recordLogin(r *http.Request, tenantID string, typ events.Type, adminID, email string, detail map[string]string) {
	if tenants.ValidateEmail(email) == nil {
		detail["email"] = email
	}
	if adminID != "" {
		detail["admin_id"] = adminID
	}
	actor := "admin"
	if e, ok := detail["email"]; ok {
		actor = "admin:" + e
	}
	s.Events.Record(events.Event{
		TenantID: tenantID, Type: typ, Time: s.now(), IP: s.clientIP(r), UserAgent: r.UserAgent(),
		Actor: actor, Detail: detail,
	})
}

// flashSafe returns s if a flash message may carry it, else "".
func flashSafe(s string) string {
	if flashArg.MatchString(s) {
		return s
	}
	return ""
}
