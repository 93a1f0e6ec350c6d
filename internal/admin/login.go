package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
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

// login signs an admin in (adminauth.Service.SignIn). Its CSRF defence is the
// origin check (the form has no session yet to carry a token from); see
// docs/admin-ui.md.
func (s *server) login(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	email := strings.TrimSpace(r.PostForm.Get("email"))
	next := localPath(r.PostForm.Get("next"), "")
	data := loginData{Next: next}
	if web.IsText(email) {
		data.Email = email
	}
	if s.plainHTTPRefused(r) {
		data.Refused = true
		s.render(w, r, nil, http.StatusForbidden, "login", page{Title: "Sign in", Data: data})
		return nil
	}
	in := adminauth.SignInRequest{Email: email, Password: r.PostForm.Get("password"), Caller: s.caller(r)}
	if c.P != nil {
		in.Replaces = &c.P.Admin
	}
	res, err := s.accounts.SignIn(r.Context(), in)
	switch {
	case isRetryLater(err):
		data.Error = "Too many failed sign-in attempts. Try again in " + retryAfter(w, err) + "."
		s.render(w, r, nil, http.StatusTooManyRequests, "login", page{Title: "Sign in", Data: data})
		return nil
	case fault.Is(err, fault.Unauthorized):
		data.Error = "Wrong email or password."
		s.render(w, r, nil, http.StatusUnauthorized, "login", page{Title: "Sign in", Data: data})
		return nil
	case fault.Is(err, fault.Forbidden):
		data.Error = "Your tenant is suspended. Ask your operator."
		s.render(w, r, nil, http.StatusForbidden, "login", page{Title: "Sign in", Data: data})
		return nil
	case err != nil:
		return err
	}
	s.setSessionCookie(w, r, res.Token)
	s.setDeviceCookie(w, r, res.DeviceCookie)
	return s.redirect(w, r, localPath(next, s.homeOf(&principal{Admin: res.Admin})), "signed_in", flashSafe(res.Admin.Email))
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

// isRetryLater reports whether err is a refusal by a sign-in limit.
func isRetryLater(err error) bool {
	var later *adminauth.RetryLater
	return errors.As(err, &later)
}

// retryAfter sets the Retry-After header of a refusal by a sign-in limit
// (whole seconds, at least 1) and returns the wait in words.
func retryAfter(w http.ResponseWriter, err error) string {
	var later *adminauth.RetryLater
	errors.As(err, &later)
	secs := max(int((later.Wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return humanSeconds(secs)
}

// flashSafe returns s if a flash message may carry it, else "".
func flashSafe(s string) string {
	if flashArg.MatchString(s) {
		return s
	}
	return ""
}
