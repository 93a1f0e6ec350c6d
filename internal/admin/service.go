package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

// accounts holds the admin UI's account use cases, apart from HTTP: signing
// in (SignIn) and changing one's password (ChangePassword). Handlers decode
// a form, call one method and render its result.
type accounts struct {
	tenants  *tenants.Service
	sessions *sessions.Manager
	events   events.Recorder
	now      func() time.Time
	// ipLimit is a hard limit of failed sign-ins per client IP; accLimit
	// slows the failures of one account down (a growing delay).
	ipLimit, accLimit Limiter
	maxDelay          time.Duration
}

// caller is who is asking, as the HTTP adapter saw them.
type caller struct {
	IP        string
	UserAgent string
	Device    sessions.Device
}

// signInRequest is one sign-in attempt.
type signInRequest struct {
	Email, Password string
	Caller          caller
	// Replaces is the admin session the browser still had, if any: it is
	// revoked on success, so every sign-in gets a new token.
	Replaces *principal
}

// signedIn is a successful sign-in: the new admin session.
type signedIn struct {
	Principal *principal
	Token     string
}

// errRateLimited is the fault of a sign-in refused by a limit.
var errRateLimited = fault.New(fault.RateLimited, "too many failed sign-in attempts")

// retryLater is a sign-in refused by a limit until Wait has passed. It
// carries fault.RateLimited.
type retryLater struct{ Wait time.Duration }

func (e *retryLater) Error() string { return fmt.Sprintf("%v; retry in %v", errRateLimited, e.Wait) }
func (e *retryLater) Unwrap() error { return errRateLimited }

// SignIn checks an admin's email and password and, if they are right,
// creates a new admin session (a sessiond session in the system tenant)
// and revokes the one it replaces.
//
// Every attempt reserves its place in both limits before the password is
// checked, atomically, so concurrent attempts cannot outrun them: the
// client IP's hard limit, then the account's delay. An attempt past either
// is refused without a check (*retryLater, fault.RateLimited), with one
// admin.login_failed event (reason rate_limited) per window. A wrong
// password keeps both reservations; a right one gives them back and clears
// the account's delay. Emails that cannot be an admin's (not UTF-8, NUL) are
// wrong without a database lookup, but cost the same hash check and count
// the same.
//
// Errors: *retryLater, fault.Unauthorized, fault.Forbidden (suspended
// tenant), fault.Unavailable.
func (a *accounts) SignIn(ctx context.Context, in signInRequest) (signedIn, error) {
	now := a.now()
	account := strings.ToLower(in.Email)
	ipID, wait, first, err := a.ipLimit.Reserve(ctx, in.Caller.IP, now, 0)
	if err != nil {
		return signedIn{}, err
	}
	if ipID == "" {
		if first {
			a.recordLogin(in.Caller, a.tenantOf(ctx, in.Email), events.AdminLoginFailed, "", in.Email,
				map[string]string{"reason": "rate_limited", "limit": "ip"})
		}
		return signedIn{}, &retryLater{Wait: wait}
	}
	accID, wait, first, err := a.accLimit.Reserve(ctx, account, now, a.maxDelay)
	if err == nil && accID == "" {
		if first {
			a.recordLogin(in.Caller, a.tenantOf(ctx, in.Email), events.AdminLoginFailed, "", in.Email,
				map[string]string{"reason": "rate_limited", "limit": "account"})
		}
		err = &retryLater{Wait: wait}
	}
	if err != nil {
		return signedIn{}, errors.Join(err, a.ipLimit.Release(ctx, in.Caller.IP, ipID))
	}

	ad, err := a.tenants.AuthenticateAdmin(ctx, lookupEmail(in.Email), in.Password)
	switch {
	case fault.Is(err, fault.Unauthorized):
		tenantID, reason := ad.TenantID, "bad_password"
		if ad.ID == "" {
			tenantID, reason = tenants.SystemTenantID, "unknown_email"
		}
		a.recordLogin(in.Caller, tenantID, events.AdminLoginFailed, ad.ID, in.Email, map[string]string{"reason": reason})
		return signedIn{}, err
	case err != nil && !fault.Is(err, fault.Forbidden):
		// Not checked (a dependency failed): give both places back.
		return signedIn{}, errors.Join(err, a.ipLimit.Release(ctx, in.Caller.IP, ipID), a.accLimit.Release(ctx, account, accID))
	}
	// The password was right (the tenant may still be suspended).
	if lerr := errors.Join(a.ipLimit.Release(ctx, in.Caller.IP, ipID), a.accLimit.Reset(ctx, account)); lerr != nil {
		return signedIn{}, lerr
	}
	if err != nil {
		a.recordLogin(in.Caller, ad.TenantID, events.AdminLoginFailed, ad.ID, in.Email, map[string]string{"reason": "tenant_suspended"})
		return signedIn{}, err
	}

	if p := in.Replaces; p != nil {
		_ = a.sessions.Revoke(ctx, tenants.SystemTenantID, p.SessionID, sessionMeta(in.Caller, p))
	}
	sd, _ := json.Marshal(sessionData{TenantID: ad.TenantID, Email: ad.Email, Role: ad.Role()})
	created, err := a.sessions.Create(ctx, tenants.SystemTenantID, sessions.CreateParams{
		UserID: ad.ID, Data: sd, Device: in.Caller.Device,
	}, sessions.Meta{IP: in.Caller.IP, UserAgent: in.Caller.UserAgent, Actor: "admin:" + ad.Email})
	if err != nil {
		return signedIn{}, err
	}
	a.recordLogin(in.Caller, ad.TenantID, events.AdminLoginSucceeded, ad.ID, ad.Email, map[string]string{"admin_session_id": created.Session.ID})
	return signedIn{
		Principal: &principal{AdminID: ad.ID, TenantID: ad.TenantID, Role: ad.Role(), Email: ad.Email, SessionID: created.Session.ID},
		Token:     created.Token,
	}, nil
}

// lookupEmail is the email to look an admin up by: email itself, or "" (no
// admin has it) when it is not text PostgreSQL can hold.
func lookupEmail(email string) string {
	if !isText(email) {
		return ""
	}
	return email
}

// tenantOf is the tenant a sign-in event about email belongs to: its
// admin's, else the system tenant.
func (a *accounts) tenantOf(ctx context.Context, email string) string {
	if !isText(email) {
		return tenants.SystemTenantID
	}
	return a.tenants.AdminTenantOf(ctx, email)
}

// recordLogin records an admin sign-in event in the admin's tenant (the
// system tenant for operators and unknown emails). The email is kept only
// when it is a well-formed address, so a password typed into the email
// field is not.
func (a *accounts) recordLogin(c caller, tenantID string, typ events.Type, adminID, email string, detail map[string]string) {
	if tenants.ValidateEmail(email) == nil && isText(email) {
		detail["email"] = email
	}
	if adminID != "" {
		detail["admin_id"] = adminID
	}
	actor := "admin"
	if e, ok := detail["email"]; ok {
		actor = "admin:" + e
	}
	a.events.Record(events.Event{
		TenantID: tenantID, Type: typ, Time: a.now(), IP: c.IP, UserAgent: c.UserAgent,
		Actor: actor, Detail: detail,
	})
}

// sessionMeta describes an admin's action on a session for its events.
func sessionMeta(c caller, p *principal) sessions.Meta {
	m := sessions.Meta{IP: c.IP, UserAgent: c.UserAgent}
	if p != nil {
		m.Actor = "admin:" + p.Email
	}
	return m
}

// passwordChange is a filled-in password form.
type passwordChange struct {
	Current, New, Confirm string
}

// ChangePassword checks the admin's current password, sets the new one and
// then ends every other admin UI session of theirs (the one in p stays), so
// a session someone else holds does not outlive the old password. It
// returns how many sessions it ended.
//
// Errors: fault.InvalidRequest naming confirm_password (does not match),
// current_password (wrong) or new_password (too short); fault.NotFound;
// fault.Unavailable (the password may then have changed while the other
// sessions were not ended: "Log out my other devices" ends them).
func (a *accounts) ChangePassword(ctx context.Context, p *principal, in passwordChange, c caller) (int, error) {
	if in.New != in.Confirm {
		return 0, errMissing("confirm_password", "does not match the new password")
	}
	actor := tenants.Actor{IP: c.IP, UserAgent: c.UserAgent, Name: "admin:" + p.Email}
	if err := a.tenants.ChangeAdminPassword(ctx, p.AdminID, in.Current, in.New, actor); err != nil {
		return 0, err
	}
	ended, err := a.sessions.RevokeUser(ctx, tenants.SystemTenantID, p.AdminID, p.SessionID, sessionMeta(c, p))
	if err != nil {
		return 0, fmt.Errorf("password changed, ending the other sessions: %w", err)
	}
	return ended.Count, nil
}
