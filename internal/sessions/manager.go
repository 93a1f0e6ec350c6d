// Package sessions is sessiond's session engine: it issues signed session
// tokens and keeps the sessions they name in a Store, under the rules of
// rules.go and the round-trip budget of docs/architecture.md. It imports no
// database driver: internal/sessions/redisstore is the Store on Redis.
//
// Tokens are never stored, logged, put in an error or in an event: only the
// public session id derived from them is.
package sessions

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// TenantSource gives the engine a tenant's policy and keyring as they
// stand: fault.NotFound for a missing tenant, fault.Unavailable when it
// cannot tell. It is satisfied by *tenants.Cache.
type TenantSource interface {
	Lookup(id string) (*tenants.Snapshot, error)
	// Fresh reads the tenant anew, after the call began, for a token naming
	// a key Lookup's snapshot does not hold: the key may have been created
	// on another instance an instant ago.
	Fresh(id string) (*tenants.Snapshot, error)
}

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	// Now is the clock; every deadline is computed from it, also those the
	// store applies. Default time.Now.
	Now func() time.Time
	// Events receives security events. Default: events are dropped.
	Events events.Recorder
	// Labeler turns a user agent into a device label when the caller gives
	// none; it must always give a user agent the same label (the Manager
	// remembers recent ones). Default DeviceLabel ("Chrome 126 on macOS").
	Labeler func(userAgent string) string
	// GuessLimit is how many forged tokens one end user (the device IP the
	// app passes to verify) may present per minute before further forgeries
	// are answered rate_limited. Default DefaultGuessLimit.
	GuessLimit int
	// GuessLimitPerCaller is the same budget for an API caller's IP, used
	// when the app passes no device IP. Default DefaultGuessLimitPerCaller.
	GuessLimitPerCaller int
	// OnThrottled, if set, is called once per call refused by a guess limit
	// (for metrics).
	OnThrottled func(tenantID string, source GuessSource)
	// Log receives operational warnings (background purge and revocation
	// failures). It never sees a token. Default: discarded.
	Log *slog.Logger
	// Changes receives, before a call answers, every change SDK caches must
	// hear of (internal/changes). Default: none is published.
	Changes ChangeLog
}

// ChangeLog is the changes stream SDK caches follow (internal/changes.Log).
// A call whose change it could not take answers its error (fault.Unavailable)
// although the store write succeeded: an answered change is in the stream.
type ChangeLog interface {
	// SessionsEnded: ids must be dropped from caches, for reason (one of
	// the Change* reasons).
	SessionsEnded(ctx context.Context, tenantID string, ids []string, reason string) error
	// UserEnded: every session of userID but except ("" none) must be
	// dropped.
	UserEnded(ctx context.Context, tenantID, userID, except string) error
}

// Reasons of SessionsEnded.
const (
	ChangeRevoked     = "revoked"
	ChangeEvicted     = "evicted"
	ChangeRegenerated = "regenerated"
	ChangeChanged     = "changed"
)

type noChanges struct{}

func (noChanges) SessionsEnded(context.Context, string, []string, string) error { return nil }
func (noChanges) UserEnded(context.Context, string, string, string) error       { return nil }

// Manager is the session engine. It is safe for concurrent use.
type Manager struct {
	store   Store
	tenants TenantSource
	now     func() time.Time
	events  events.Recorder
	labels  *labelCache
	guesses *guessLimiter
	log     *slog.Logger
	changes ChangeLog
	// background tracks the revocations still deleting (Wait).
	background sync.WaitGroup

	guessLimit, guessLimitPerCaller int
	onThrottled                     func(string, GuessSource)
}

// NewManager returns a Manager that keeps sessions in store and reads
// tenants from tenants.
func NewManager(store Store, tenants TenantSource, o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Events == nil {
		o.Events = discardEvents{}
	}
	if o.Labeler == nil {
		o.Labeler = DeviceLabel
	}
	if o.GuessLimit <= 0 {
		o.GuessLimit = DefaultGuessLimit
	}
	if o.GuessLimitPerCaller <= 0 {
		o.GuessLimitPerCaller = DefaultGuessLimitPerCaller
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Changes == nil {
		o.Changes = noChanges{}
	}
	return &Manager{changes: o.Changes,
		store: store, tenants: tenants, now: o.Now, events: o.Events,
		labels: newLabelCache(o.Labeler), guesses: newGuessLimiter(guessWindow, maxGuessSourcesPerTenant, maxGuessSources), log: o.Log,
		guessLimit: o.GuessLimit, guessLimitPerCaller: o.GuessLimitPerCaller, onThrottled: o.OnThrottled,
	}
}

type discardEvents struct{}

func (discardEvents) Record(events.Event) {}

// LoadScripts prepares the store (on Redis: loads every script, on every
// master of a Cluster), so that the first call of each operation already
// makes a single round trip. Calling it is optional. It returns
// fault.Unavailable when the store cannot be reached.
func (m *Manager) LoadScripts(ctx context.Context) error {
	return m.store.Prepare(ctx)
}

// tenant returns the snapshot of an active tenant, or fault.Forbidden.
func (m *Manager) tenant(tenantID string) (*tenants.Snapshot, error) {
	if !validTenantID(tenantID) {
		return nil, fault.New(fault.Forbidden, "unknown tenant")
	}
	snap, err := m.tenants.Lookup(tenantID)
	if fault.Is(err, fault.NotFound) || (err == nil && snap == nil) {
		return nil, fault.New(fault.Forbidden, "unknown tenant")
	}
	if err != nil {
		return nil, err
	}
	if snap.Tenant.Status != tenants.Active {
		return nil, fault.New(fault.Forbidden, "tenant is suspended")
	}
	return snap, nil
}

// record sends one event, stamped with the clock, the caller's request and
// the end user's device (labelled from its user agent if it has no label).
func (m *Manager) record(tenantID string, t events.Type, userID, sessionID string, meta Meta, detail map[string]string) {
	d := meta.Device
	if d.Label == "" && d.UserAgent != "" {
		d.Label = m.labels.label(d.UserAgent)
	}
	m.events.Record(events.Event{
		TenantID: tenantID, Type: t, Time: m.now().UTC(), UserID: userID, SessionID: sessionID,
		Device: events.NewDevice(d.IP, d.UserAgent, d.Label),
		IP:     meta.IP, UserAgent: meta.UserAgent, Actor: meta.Actor, Detail: detail,
	})
}

// unexpected is the error for a store outcome a call cannot have.
func unexpected(s Status) error {
	return fault.New(fault.Internal, "session store returned an unexpected outcome (%s)", s)
}
