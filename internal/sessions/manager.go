// Package sessions is sessiond's session engine: it issues signed session
// tokens and keeps the sessions they name in Redis, one Lua script per
// operation, under the layout and round-trip budget of docs/architecture.md.
//
// Tokens are never stored, logged, put in an error or in an event: only the
// public session id derived from them is.
package sessions

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// TenantSource gives the engine a tenant's policy and keyring. It is
// satisfied by *tenants.Cache.
type TenantSource interface {
	Tenant(id string) (*tenants.Snapshot, bool)
}

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	// Prefix starts every Redis key, e.g. "sd" → "sd:{T:B}:...". Default "sd".
	Prefix string
	// Now is the clock; every deadline is computed from it, also inside the
	// scripts. Default time.Now.
	Now func() time.Time
	// Events receives security events. Default: events are dropped.
	Events events.Recorder
	// Labeler turns a user agent into a device label when the caller gives
	// none. Default DeviceLabel ("Chrome 126 on macOS").
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
	// Log receives operational warnings (background purge failures). It never
	// sees a token. Default: discarded.
	Log *slog.Logger
}

// Manager is the session engine. It is safe for concurrent use.
type Manager struct {
	rdb     redis.UniversalClient
	tenants TenantSource
	prefix  string
	now     func() time.Time
	events  events.Recorder
	labeler func(string) string
	guesses *guessLimiter
	log     *slog.Logger

	guessLimit, guessLimitPerCaller int
	onThrottled                     func(string, GuessSource)
}

// NewManager returns a Manager over rdb (standalone, Sentinel or Cluster).
func NewManager(rdb redis.UniversalClient, tenants TenantSource, o Options) *Manager {
	if o.Prefix == "" {
		o.Prefix = "sd"
	}
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
	return &Manager{
		rdb: rdb, tenants: tenants, prefix: o.Prefix, now: o.Now, events: o.Events,
		labeler: o.Labeler, guesses: newGuessLimiter(guessWindow), log: o.Log,
		guessLimit: o.GuessLimit, guessLimitPerCaller: o.GuessLimitPerCaller, onThrottled: o.OnThrottled,
	}
}

type discardEvents struct{}

func (discardEvents) Record(events.Event) {}

// Device is the end user's device as the tenant's app saw it.
type Device struct {
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
	Label     string `json:"label,omitempty"`
}

// Session is one live session as clients see it. It never holds the token.
type Session struct {
	ID            string     `json:"id"`
	UserID        string     `json:"user_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastSeenAt    time.Time  `json:"last_seen_at"`
	AuthTime      *time.Time `json:"auth_time,omitempty"`
	ExpiresAt     time.Time  `json:"expires_at"`
	IdleExpiresAt time.Time  `json:"idle_expires_at"`
	// IdleTimeout is this session's idle timeout in seconds (the policy's or
	// shorter).
	IdleTimeout int    `json:"idle_timeout"`
	Device      Device `json:"device"`
	// Data is the app's own JSON object; "{}" when empty.
	Data    json.RawMessage `json:"data"`
	Version int64           `json:"version"`
}

// Meta describes the API caller's request, for events and guess limiting
// (not the end user's device).
type Meta struct {
	IP, UserAgent, Actor string
}

// ExpiryGrace is how long an expired session is remembered, so that verify
// answers session_expired_idle or session_expired_absolute rather than
// session_invalid: an idle-expired hash is kept that long (never past the
// absolute deadline), and the bucket index keeps an expired session's entry
// that long past its absolute deadline. The scripts get it as GRACE_MS.
const ExpiryGrace = 10 * time.Minute

// embedded scripts: common.lua is prepended to each operation's script.
//
//go:embed lua/*.lua
var luaFS embed.FS

func loadScript(name string) *redis.Script {
	common, err := luaFS.ReadFile("lua/common.lua")
	if err != nil {
		panic(err)
	}
	src, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	grace := "local GRACE_MS = " + strconv.FormatInt(ExpiryGrace.Milliseconds(), 10) + "\n"
	return redis.NewScript(grace + string(common) + string(src))
}

var (
	createScript     = loadScript("create")
	verifyScript     = loadScript("verify")
	regenerateScript = loadScript("regenerate")
	claimScript      = loadScript("claim")
	revokeScript     = loadScript("revoke")
	revokeUserScript = loadScript("revoke_user")
	patchScript      = loadScript("patch")
	purgeScript      = loadScript("purge")
	allScripts       = []*redis.Script{createScript, verifyScript, regenerateScript, claimScript, revokeScript, revokeUserScript, patchScript, purgeScript}
)

// LoadScripts loads every script into Redis (every master of a Cluster), so
// that the first call of each operation is already a single EVALSHA. Calling
// it is optional: a script Redis does not know is sent with EVAL. It returns
// fault.Unavailable when Redis cannot be reached.
func (m *Manager) LoadScripts(ctx context.Context) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, m.rdb).Err(); err != nil {
			return storeError(err)
		}
	}
	return nil
}

// run executes a script and returns its reply as a list.
func (m *Manager) run(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]any, error) {
	v, err := s.Run(ctx, m.rdb, keys, args...).Result()
	if err != nil {
		return nil, storeError(err)
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, fault.Wrap(errors.New("unexpected script reply"), fault.Internal, "session store returned an unexpected reply")
	}
	return list, nil
}

// storeError maps any Redis failure to fault.Unavailable.
func storeError(err error) error {
	return fault.Wrap(err, fault.Unavailable, "session store unavailable")
}

// tenant returns the snapshot of an active tenant, or fault.Forbidden.
func (m *Manager) tenant(tenantID string) (*tenants.Snapshot, error) {
	if !validTenantID(tenantID) {
		return nil, fault.New(fault.Forbidden, "unknown tenant")
	}
	snap, ok := m.tenants.Tenant(tenantID)
	if !ok || snap == nil {
		return nil, fault.New(fault.Forbidden, "unknown tenant")
	}
	if snap.Tenant.Status != tenants.Active {
		return nil, fault.New(fault.Forbidden, "tenant is suspended")
	}
	return snap, nil
}

// record sends one event, stamped with the clock and the caller's request.
func (m *Manager) record(tenantID string, t events.Type, userID, sessionID string, meta Meta, detail map[string]string) {
	m.events.Record(events.Event{
		TenantID: tenantID, Type: t, Time: m.now().UTC(), UserID: userID, SessionID: sessionID,
		IP: meta.IP, UserAgent: meta.UserAgent, Actor: meta.Actor, Detail: detail,
	})
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, str(x))
	}
	return out
}
