package admin

import (
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

type accountData struct {
	Sessions []sessions.Session
	Current  string
	Errors   map[string]string
	IdleMin  int
	AbsHours int
}

func (s *server) accountData(r *http.Request, c *reqCtx) (accountData, error) {
	list, err := s.Sessions.ListUser(r.Context(), tenants.SystemTenantID, c.P.AdminID)
	d := accountData{Sessions: list, Current: c.P.SessionID, Errors: map[string]string{}}
	if pol, perr := s.Tenants.Policy(tenants.SystemTenantID); perr == nil {
		d.IdleMin, d.AbsHours = pol.IdleTimeout/60, pol.AbsoluteTimeout/3600
	}
	return d, err
}

// accountPage is the admin's own account: password, sessions.
func (s *server) accountPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	d, err := s.accountData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "account", page{Title: "My account", Nav: "account", Data: d})
	return nil
}

// changePassword changes the admin's password (adminauth.Service.ChangePassword,
// which also ends their other sessions).
func (s *server) changePassword(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	f := r.PostForm
	ended, err := s.accounts.ChangePassword(r.Context(), c.P.Admin, adminauth.PasswordChange{
		Current: f.Get("current_password"), New: f.Get("new_password"), Confirm: f.Get("confirm_password"),
	}, s.caller(r))
	if isRetryLater(err) {
		d, lerr := s.accountData(r, c)
		if lerr != nil {
			return lerr
		}
		d.Errors = map[string]string{"current_password": "was wrong too many times. Try again in " + retryAfter(w, err) + "."}
		s.render(w, r, c, http.StatusTooManyRequests, "account", page{Title: "My account", Nav: "account", Data: d,
			Flash: &flash{Kind: "error", Text: "Your password was not changed."}})
		return nil
	}
	if fe := fieldErrors(err); fe != nil {
		d, lerr := s.accountData(r, c)
		if lerr != nil {
			return lerr
		}
		d.Errors = fe
		s.render(w, r, c, http.StatusBadRequest, "account", page{Title: "My account", Nav: "account", Data: d,
			Flash: &flash{Kind: "error", Text: "Your password was not changed."}})
		return nil
	}
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/account", "password_changed", strconv.Itoa(ended))
}

// revokeMySession ends one of the admin's own sessions.
func (s *server) revokeMySession(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	sid := r.PathValue("sid")
	sess, err := s.Sessions.Get(r.Context(), tenants.SystemTenantID, sid)
	if err != nil || sess.UserID != c.P.AdminID {
		if err != nil && !fault.Is(err, fault.NotFound) && !fault.Is(err, fault.InvalidRequest) {
			return err
		}
		return errNotFound
	}
	if err := s.Sessions.Revoke(r.Context(), tenants.SystemTenantID, sid, s.meta(r, c.P)); err != nil {
		return err
	}
	if sid == c.P.SessionID {
		s.clearSessionCookie(w, r)
		return s.redirect(w, r, "/admin/login", "signed_out", "")
	}
	return s.redirect(w, r, "/admin/account", "revoked", flashSafe(sid))
}

// logoutMyOthers ends every session of the admin but this one.
func (s *server) logoutMyOthers(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	ended, err := s.Sessions.RevokeUser(r.Context(), tenants.SystemTenantID, c.P.AdminID, c.P.SessionID, s.meta(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/account", "my_others_revoked", strconv.Itoa(ended.Count))
}
