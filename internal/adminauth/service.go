package adminauth

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
	"github.com/sessiond/sessiond/internal/web"
)

// SignInRequest is one sign-in attempt.
type SignInRequest struct {
	Email, Password string
	Caller          Caller
	// Replaces is the admin session the browser still had, if any: it is
	// revoked on success, so every sign-in gets a new token.
	Replaces *Admin
}

// SignedIn is a successful sign-in: the admin with their new admin session
// and its token, and the known-device cookie to store in the browser.
type SignedIn struct {
	Admin        Admin
	Token        string
	DeviceCookie string
}

// errRateLimited is the fault of a sign-in refused by a limit.
var errRateLimited = fault.New(fault.RateLimited, "too many failed sign-in attempts")

// RetryLater is a sign-in refused by a limit until Wait has passed. It
// carries fault.RateLimited.
type RetryLater struct{ Wait time.Duration }

func (e *RetryLater) Error() string { return fmt.Sprintf("%v; retry in %v", errRateLimited, e.Wait) }
func (e *RetryLater) Unwrap() error { return errRateLimited }

// SignIn checks an admin's email and password and, if they are right,
// creates a new admin session (a sessiond session in the system tenant),
// revokes the one it replaces, and makes the browser a known device of the
// account (SignedIn.DeviceCookie).
//
// Every attempt reserves its place in each of its limits (Throttle:
// the device's delay for a known device, else the source's hard limit, the
// pair's delay and the account's ceiling) before the password is checked,
// each atomically, so concurrent attempts cannot outrun them. An attempt
// past one is refused without a check (*RetryLater, fault.RateLimited),
// giving back the places it took, with one admin.login_failed event
// (reason rate_limited, limit ip, account_ip, account or device) per
// window. A wrong password keeps its places; a right one gives the hard
// limits' back and clears its pair's (or device's) delay. Emails that cannot
// be an admin's (not UTF-8, NUL) are wrong without a database lookup, but
// cost the same hash check and count the same.
//
// Errors: *RetryLater, fault.Unauthorized, fault.Forbidden (suspended
// tenant), fault.Unavailable.
func (a *Service) SignIn(ctx context.Context, in SignInRequest) (SignedIn, error) {
	now := a.now()
	account := strings.ToLower(in.Email)
	device := a.devices.known(in.Caller.DeviceCookie, account, now)
	held, err := a.reserve(ctx, a.limitsOf(account, in.Caller, device), now, func(limit string) {
		a.recordLogin(in.Caller, a.tenantOf(ctx, in.Email), events.AdminLoginFailed, "", in.Email,
			map[string]string{"reason": "rate_limited", "limit": limit})
	})
	if err != nil {
		return SignedIn{}, err
	}

	ad, err := a.tenants.AuthenticateAdmin(ctx, lookupEmail(in.Email), in.Password)
	switch {
	case fault.Is(err, fault.Unauthorized):
		tenantID, reason := ad.TenantID, "bad_password"
		if ad.ID == "" {
			tenantID, reason = tenants.SystemTenantID, "unknown_email"
		}
		a.recordLogin(in.Caller, tenantID, events.AdminLoginFailed, ad.ID, in.Email, map[string]string{"reason": reason})
		return SignedIn{}, err
	case err != nil && !fault.Is(err, fault.Forbidden):
		// Not checked (a dependency failed): give the places back.
		return SignedIn{}, errors.Join(err, held.release(ctx))
	}
	// The password was right (the tenant may still be suspended).
	if lerr := held.succeeded(ctx); lerr != nil {
		return SignedIn{}, lerr
	}
	if err != nil {
		a.recordLogin(in.Caller, ad.TenantID, events.AdminLoginFailed, ad.ID, in.Email, map[string]string{"reason": "tenant_suspended"})
		return SignedIn{}, err
	}

	if p := in.Replaces; p != nil {
		_ = a.sessions.Revoke(ctx, tenants.SystemTenantID, p.SessionID, SessionMeta(in.Caller, p))
	}
	sd, _ := json.Marshal(SessionData{TenantID: ad.TenantID, Email: ad.Email, Role: ad.Role()})
	created, err := a.sessions.Create(ctx, tenants.SystemTenantID, sessions.CreateParams{
		UserID: ad.ID, Data: sd, Device: in.Caller.Device,
	}, sessions.Meta{IP: in.Caller.IP, UserAgent: in.Caller.UserAgent, Actor: "admin:" + ad.Email})
	if err != nil {
		return SignedIn{}, err
	}
	a.recordLogin(in.Caller, ad.TenantID, events.AdminLoginSucceeded, ad.ID, ad.Email, map[string]string{"admin_session_id": created.Session.ID})
	return SignedIn{
		Admin:        Admin{AdminID: ad.ID, TenantID: ad.TenantID, Role: ad.Role(), Email: ad.Email, SessionID: created.Session.ID},
		Token:        created.Token,
		DeviceCookie: a.devices.issue(account, device, now),
	}, nil
}

// limitStep is one limit an attempt passes, and its reservation there.
type limitStep struct {
	name     string // the rate_limited event's "limit" detail
	lim      Limiter
	key      string
	maxDelay time.Duration // 0: a hard limit; else a delay
	id       string        // the reservation, once made
}

// limitsOf are the limits, in order, of an attempt on account from c:
// the device's delay for a known device, else the source's hard limit
// (IPv6 by /64), the (account, source) pair's delay and the account's
// ceiling (see Throttle).
func (a *Service) limitsOf(account string, c Caller, device string) []limitStep {
	if device != "" {
		return []limitStep{{name: "device", lim: a.deviceLimit, key: account + "\x00" + device, maxDelay: a.maxDelay}}
	}
	source := web.SourceKey(c.IP)
	return []limitStep{
		{name: "ip", lim: a.ipLimit, key: source},
		{name: "account_ip", lim: a.pairLimit, key: account + "\x00" + source, maxDelay: a.maxDelay},
		{name: "account", lim: a.accountLimit, key: account},
	}
}

// held are the places an attempt reserved, one per limit.
type held []limitStep

// reserve reserves the attempt's place in every one of steps, in order,
// before its password is checked. When one refuses, it gives back the
// places already taken, calls refused(limit) if it is that limit's first
// refusal in its window, and returns *RetryLater.
//
// Errors: *RetryLater, fault.Unavailable.
func (a *Service) reserve(ctx context.Context, steps []limitStep, now time.Time, refused func(limit string)) (held, error) {
	var h held
	for _, st := range steps {
		id, wait, first, err := st.lim.Reserve(ctx, st.key, now, st.maxDelay)
		if err == nil && id == "" {
			if first {
				refused(st.name)
			}
			err = &RetryLater{Wait: wait}
		}
		if err != nil {
			return nil, errors.Join(err, h.release(ctx))
		}
		st.id = id
		h = append(h, st)
	}
	return h, nil
}

// release gives every place back: the attempt was not checked.
func (h held) release(ctx context.Context) error {
	var errs []error
	for _, st := range h {
		errs = append(errs, st.lim.Release(ctx, st.key, st.id))
	}
	return errors.Join(errs...)
}

// succeeded settles a right password: the hard limits' places are given
// back and the pair's (or device's) delay starts afresh.
func (h held) succeeded(ctx context.Context) error {
	var errs []error
	for _, st := range h {
		if st.maxDelay > 0 {
			errs = append(errs, st.lim.Reset(ctx, st.key))
		} else {
			errs = append(errs, st.lim.Release(ctx, st.key, st.id))
		}
	}
	return errors.Join(errs...)
}

// lookupEmail is the email to look an admin up by: email itself, or "" (no
// admin has it) when it is not text PostgreSQL can hold.
func lookupEmail(email string) string {
	if !web.IsText(email) {
		return ""
	}
	return email
}

// tenantOf is the tenant a sign-in event about email belongs to: its
// admin's, else the system tenant.
func (a *Service) tenantOf(ctx context.Context, email string) string {
	if !web.IsText(email) {
		return tenants.SystemTenantID
	}
	return a.tenants.AdminTenantOf(ctx, email)
}

// recordLogin records an admin sign-in event in the admin's tenant (the
// system tenant for operators and unknown emails). The email is kept only
// when it is a well-formed address, so a password typed into the email
// field is not.
func (a *Service) recordLogin(c Caller, tenantID string, typ events.Type, adminID, email string, detail map[string]string) {
	if tenants.ValidateEmail(email) == nil && web.IsText(email) {
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

// PasswordChange is a filled-in password form.
type PasswordChange struct {
	Current, New, Confirm string
}

// ChangePassword checks the admin's current password, sets the new one and
// then ends every other admin UI session of theirs (p's own stays), so
// a session someone else holds does not outlive the old password. It
// returns how many sessions it ended.
//
// The current password is checked under the sign-in limits of the account
// and the caller (SignIn): a wrong one counts as a failed sign-in and is an
// admin.password_change_failed event (reason bad_password); past a limit
// the change is refused unchecked (*RetryLater), with one such event
// (reason rate_limited) per window. A new password that is refused on its
// own (confirmation, length, weakness) is refused before any check.
//
// Errors: fault.InvalidRequest naming confirm_password (does not match),
// new_password (too short or weak) or current_password (wrong);
// *RetryLater; fault.NotFound; fault.Unavailable (the password may then
// have changed while the other sessions were not ended: "Log out my other
// devices" ends them).
func (a *Service) ChangePassword(ctx context.Context, p Admin, in PasswordChange, c Caller) (int, error) {
	if in.New != in.Confirm {
		return 0, fault.Invalid("confirm_password", "does not match the new password")
	}
	if err := tenants.ValidatePassword("new_password", in.New, p.Email); err != nil {
		return 0, err
	}
	now := a.now()
	account := strings.ToLower(p.Email)
	device := a.devices.known(c.DeviceCookie, account, now)
	held, err := a.reserve(ctx, a.limitsOf(account, c, device), now, func(limit string) {
		a.recordPasswordChangeFailed(c, p, map[string]string{"reason": "rate_limited", "limit": limit})
	})
	if err != nil {
		return 0, err
	}
	actor := tenants.Actor{IP: c.IP, UserAgent: c.UserAgent, Name: "admin:" + p.Email}
	err = a.tenants.ChangeAdminPassword(ctx, p.AdminID, in.Current, in.New, actor)
	switch {
	case names(err, "current_password"):
		a.recordPasswordChangeFailed(c, p, map[string]string{"reason": "bad_password"})
		return 0, err
	case err != nil && !fault.Is(err, fault.InvalidRequest):
		// Not checked, or not known to be (a dependency failed).
		return 0, errors.Join(err, held.release(ctx))
	case err != nil:
		return 0, errors.Join(err, held.succeeded(ctx))
	}
	// The password has changed: should the limiter fail here, this pair's
	// delay and places merely age out, so its error is not the caller's.
	_ = held.succeeded(ctx)
	ended, err := a.sessions.RevokeUser(ctx, tenants.SystemTenantID, p.AdminID, p.SessionID, SessionMeta(c, &p))
	if err != nil {
		return 0, fmt.Errorf("password changed, ending the other sessions: %w", err)
	}
	return ended.Count, nil
}

// names reports whether err is fault.InvalidRequest naming field.
func names(err error, field string) bool {
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.InvalidRequest {
		return false
	}
	for _, f := range fe.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// recordPasswordChangeFailed records an admin.password_change_failed event
// in the admin's tenant.
func (a *Service) recordPasswordChangeFailed(c Caller, p Admin, detail map[string]string) {
	detail["admin_id"] = p.AdminID
	a.events.Record(events.Event{
		TenantID: p.TenantID, Type: events.AdminPasswordChangeFailed, Time: a.now(), IP: c.IP, UserAgent: c.UserAgent,
		Actor: "admin:" + p.Email, Detail: detail,
	})
}
