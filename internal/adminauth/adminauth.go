// Package adminauth holds the admin UI's account use cases, apart from
// HTTP: signing in (Service.SignIn) and changing one's password
// (Service.ChangePassword), under the sign-in throttle (Throttle) and with
// their security events. An admin session is a sessiond session in the
// system tenant whose data is a SessionData. The admin package's handlers
// decode a form, call one method and render its result.
package adminauth

import (
	"context"
	"errors"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Options are what the use cases need.
type Options struct {
	Tenants  *tenants.Service
	Sessions *sessions.Manager
	Events   events.Recorder
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Throttle bounds failed sign-ins; zero fields take the defaults.
	Throttle Throttle
	// NewLimiter makes a named attempt limit shared by every instance
	// (internal/attempts on Redis).
	NewLimiter func(name string, limit int, window time.Duration) Limiter
	// DeviceKey signs the known-device cookies (at least 32 bytes, the same
	// on every instance; app derives it from the master key).
	DeviceKey []byte
}

// Service is the admin account use cases.
type Service struct {
	tenants  *tenants.Service
	sessions *sessions.Manager
	events   events.Recorder
	now      func() time.Time
	devices  devices
	// The limits of Throttle: hard per source (ipLimit) and per account
	// (accountLimit), delays per (account, source) pair (pairLimit) and
	// per known device (deviceLimit), growing up to maxDelay.
	ipLimit, pairLimit, accountLimit, deviceLimit Limiter
	maxDelay                                      time.Duration
}

// New returns the use cases, or an error when the device key is too short.
func New(o Options) (*Service, error) {
	if len(o.DeviceKey) < 32 {
		return nil, errors.New("admin sign-in: the known-device cookie key must have 32 bytes or more")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := o.Throttle.withDefaults()
	return &Service{
		tenants: o.Tenants, sessions: o.Sessions, events: o.Events, now: o.Now,
		devices: devices{key: o.DeviceKey}, maxDelay: t.MaxDelay,
		ipLimit:      o.NewLimiter("admin-login-ip", t.PerIP, t.Window),
		pairLimit:    o.NewLimiter("admin-login-pair", t.PerPair, t.Window),
		accountLimit: o.NewLimiter("admin-login-account-ceiling", t.PerAccount, t.Window),
		deviceLimit:  o.NewLimiter("admin-login-device", t.PerPair, t.Window),
	}, nil
}

// Limiter bounds the attempts of each key (a source, an account) in a
// window, shared by every instance. Its methods return fault.Unavailable
// when the shared store cannot be reached.
type Limiter interface {
	// Reserve counts one attempt of key at now before it is checked, or
	// refuses it, atomically. With maxDelay 0 the limit is hard (at most
	// the limit in any window); with maxDelay > 0, past the limit each
	// attempt must wait a delay after the latest one that doubles from one
	// second up to maxDelay, and a key quiet for a window starts afresh.
	// A reservation has an id; a refusal has none, says how long to wait,
	// and whether it is the first refusal of the window.
	Reserve(ctx context.Context, key string, now time.Time, maxDelay time.Duration) (id string, wait time.Duration, firstRefusal bool, err error)
	// Release gives reservation id back: the attempt was not a failure.
	Release(ctx context.Context, key, id string) error
	// Reset forgets every attempt of key.
	Reset(ctx context.Context, key string) error
}

// Throttle bounds failed sign-ins and password changes (wrong current
// passwords count as failed sign-ins). A source is a client IP: an IPv4
// address, or an IPv6 /64 (web.SourceKey).
//
// From a browser that is not a known device of the account:
//   - per source, a hard limit: PerIP failures (any accounts) in a sliding
//     Window, then 429 until they age out;
//   - per (account, source) pair, a delay: PerPair failures pass freely,
//     then each attempt must come a delay after the pair's latest failure
//     that doubles from one second up to MaxDelay; a pair without a failure
//     for a Window starts afresh. An attacker's failures slow only the
//     attacker's own pair, never the same account from another source;
//   - per account, a ceiling: PerAccount failures from every source in a
//     sliding Window, then 429 for every browser that is not a known device
//     until they age out. It exceeds PerIP, so one source alone can never
//     reach it.
//
// A known device (its signed cookie from a successful sign-in of that
// account) skips all three and has a delay of its own, as a pair's: PerPair
// free failures, then doubling up to MaxDelay.
//
// Each limit records one admin.login_failed (or
// admin.password_change_failed) event with reason rate_limited per Window.
type Throttle struct {
	PerIP      int           // default 20
	PerPair    int           // default 5
	PerAccount int           // default 5 × PerIP (100)
	Window     time.Duration // default 15 min
	MaxDelay   time.Duration // default 1 min
}

// withDefaults fills the zero fields of t.
func (t Throttle) withDefaults() Throttle {
	if t.PerIP <= 0 {
		t.PerIP = 20
	}
	if t.PerPair <= 0 {
		t.PerPair = 5
	}
	if t.PerAccount <= 0 {
		t.PerAccount = 5 * t.PerIP
	}
	if t.Window <= 0 {
		t.Window = 15 * time.Minute
	}
	if t.MaxDelay <= 0 {
		t.MaxDelay = time.Minute
	}
	return t
}

// Admin is a signed-in admin: who they are, and their admin session.
type Admin struct {
	AdminID   string
	Email     string
	TenantID  string
	Role      tenants.Role
	SessionID string
}

// SessionData is what an admin session stores in its data.
type SessionData struct {
	TenantID string       `json:"tenant_id"`
	Email    string       `json:"email"`
	Role     tenants.Role `json:"role"`
}

// Caller is who is asking, as the HTTP adapter saw them.
type Caller struct {
	IP        string
	UserAgent string
	Device    sessions.Device
	// DeviceCookie is the known-device cookie the browser sent ("" none).
	DeviceCookie string
}

// SessionMeta describes an admin's (a, nil when signed out) action on a
// session for its events.
func SessionMeta(c Caller, a *Admin) sessions.Meta {
	m := sessions.Meta{IP: c.IP, UserAgent: c.UserAgent}
	if a != nil {
		m.Actor = "admin:" + a.Email
	}
	return m
}
