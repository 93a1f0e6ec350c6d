package sessions

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Device is the end user's device as the tenant's app saw it.
type Device struct {
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
	Label     string `json:"label,omitempty"`
}

// Session is one live session as clients see it. It never holds the token.
type Session struct {
	ID            string `json:"id"`
	UserID        string `json:"user_id,omitempty"`
	CreatedAt     Time   `json:"created_at"`
	LastSeenAt    Time   `json:"last_seen_at"`
	AuthTime      *Time  `json:"auth_time,omitempty"`
	ExpiresAt     Time   `json:"expires_at"`
	IdleExpiresAt Time   `json:"idle_expires_at"`
	// IdleTimeout is this session's idle timeout in seconds (the policy's or
	// shorter).
	IdleTimeout int    `json:"idle_timeout"`
	Device      Device `json:"device"`
	// Data is the app's own JSON object; "{}" when empty.
	Data    json.RawMessage `json:"data"`
	Version int64           `json:"version"`
	// AMR are the authentication methods the user proved, each with when
	// (never nil), and AAL the assurance level they give.
	AMR []Factor `json:"amr"`
	AAL int      `json:"aal"`
	// Profile names the lifetime the session lives by: "standard",
	// "remember_me" or "impersonation".
	Profile string `json:"profile"`
	// Actor is who holds an impersonated session (nil for the user's own).
	Actor *Actor `json:"actor,omitempty"`
}

// Time is a time.Time (its field Time) whose JSON is time.Time's, written
// from its MarshalText: encoding/json copies a MarshalText result into a
// string, but scans and compacts again every MarshalJSON result, which
// made the times over half the cost of encoding a session.
type Time struct {
	noMarshalJSON
	time.Time
}

// noMarshalJSON hides time.Time's MarshalJSON from Time: two methods of one
// name at the same depth are promoted neither, so Time has none and
// encoding/json uses its (promoted) MarshalText.
type noMarshalJSON struct{}

func (noMarshalJSON) MarshalJSON() ([]byte, error) {
	return nil, errors.New("sessions: noMarshalJSON.MarshalJSON is hidden, never called")
}

// Actor is who acts as the user in an impersonated session: support staff,
// an admin or a service, by its id in the app.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Meta describes the API caller's request, for events and guess limiting
// (not the end user's device).
type Meta struct {
	// IP, UserAgent and Actor are the caller's (the app's server, an admin).
	IP, UserAgent, Actor string
	// Device is the end user's device when the request named one; the
	// engine fills it in from the call's parameters (create, verify).
	Device Device
}

// ExpiryGrace is how long an expired session is remembered, so that verify
// answers session_expired_idle or session_expired_absolute rather than
// session_invalid: a store keeps an idle-expired session that long (never
// past its absolute deadline), and, once it has dropped a session, still
// reports its expiry once, until twice that after its idle deadline.
const ExpiryGrace = 10 * time.Minute

// Record is a session as a Store keeps it. Times are Unix milliseconds on
// the engine's clock; a record never holds the token, its nonce or the CSRF
// token.
type Record struct {
	UserID        string // "" for an anonymous session
	CreatedAt     int64
	LastSeenAt    int64
	AuthTime      int64 // 0: never authenticated; else at or after CreatedAt
	ExpiresAt     int64 // the absolute deadline
	IdleTimeout   int64 // seconds
	IdleExpiresAt int64 // the idle deadline, never past ExpiresAt
	UserAgent     string
	IP            string // canonical form, "" when unknown
	// IPBinding is the device IP's binding key, compared at verify: the
	// bytes of its /24 (IPv4) or /48 (IPv6) prefix; "" when no IP.
	IPBinding string
	Label     string
	Data      string // a compact JSON object
	Version   int64
	KeyID     string // the key that last signed the session's token
	// Factors are the methods the user proved, "method:kind:ms,…" with ms
	// after CreatedAt (factors.go); "" for none.
	Factors string
	// Profile is the lifetime the session lives by (ProfileStandard, …).
	Profile int64
	// Actor is who holds an impersonated session, "type:id"; "" for the
	// user's own sessions.
	Actor string
}

// view returns the public view of session id.
func view(id string, r Record) Session {
	s := Session{
		ID: id, UserID: r.UserID,
		CreatedAt: msTime(r.CreatedAt), LastSeenAt: msTime(r.LastSeenAt),
		ExpiresAt: msTime(r.ExpiresAt), IdleExpiresAt: msTime(r.IdleExpiresAt),
		IdleTimeout: int(r.IdleTimeout),
		Device:      Device{UserAgent: r.UserAgent, IP: r.IP, Label: r.Label},
		Data:        json.RawMessage(r.Data),
		Version:     r.Version,
		Profile:     profileNames[0],
		Actor:       actorOf(r.Actor),
	}
	s.AMR, s.AAL = factorsOf(r)
	if r.Profile > 0 && r.Profile < int64(len(profileNames)) {
		s.Profile = profileNames[r.Profile]
	}
	if r.AuthTime != 0 {
		t := msTime(r.AuthTime)
		s.AuthTime = &t
	}
	if len(s.Data) == 0 {
		s.Data = json.RawMessage("{}")
	}
	return s
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func msTime(v int64) Time { return Time{Time: time.UnixMilli(v).UTC()} }

// actorOf reads a record's actor ("type:id"); nil for none.
func actorOf(s string) *Actor {
	if s == "" {
		return nil
	}
	typ, id, _ := strings.Cut(s, ":")
	return &Actor{Type: typ, ID: id}
}
