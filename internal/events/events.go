// Package events defines sessiond's security events: what happened, to which
// tenant, user and public session id, from where. Events never carry a token
// or a secret.
package events

import (
	"context"
	"slices"
	"time"
)

// Type names a kind of security event. The names are part of the API.
type Type string

// The event types.
const (
	SessionCreated        Type = "session.created"
	SessionRegenerated    Type = "session.regenerated"
	SessionRevoked        Type = "session.revoked"
	SessionEvicted        Type = "session.evicted"
	SessionExpired        Type = "session.expired"
	OtherDevicesLoggedOut Type = "session.others_revoked"
	UserLoggedOut         Type = "session.user_revoked"
	VerifyRejected        Type = "verify.rejected"
	CSRFMismatch          Type = "verify.csrf_mismatch"
	ReauthRequired        Type = "verify.reauth_required"
	StepUpRequired        Type = "verify.step_up_required"
	SessionSteppedUp      Type = "session.stepped_up"
	BindingMismatch       Type = "verify.binding_mismatch"
	SessionLimitRejected  Type = "session.limit_rejected"
	GuessingThrottled     Type = "verify.rate_limited"
	KeyRotated            Type = "key.rotated"
	KeyRetired            Type = "key.retired"
	PolicyChanged         Type = "policy.changed"
	APIKeyCreated         Type = "api_key.created"
	APIKeyRevoked         Type = "api_key.revoked"
	TenantCreated         Type = "tenant.created"
	TenantUpdated         Type = "tenant.updated"
	AdminLoginSucceeded   Type = "admin.login_succeeded"
	AdminLoginFailed      Type = "admin.login_failed"
	AdminCreated          Type = "admin.created"
	AdminPasswordChanged  Type = "admin.password_changed"
	// AdminPasswordChangeFailed is a password change refused for a wrong
	// current password (reason bad_password) or by a sign-in limit
	// (reason rate_limited).
	AdminPasswordChangeFailed Type = "admin.password_change_failed"
	AdminDeleted              Type = "admin.deleted"
	// EventsSuppressed summarises, once per minute, the events of a tenant
	// that were over its events-per-minute ceiling and so were not stored
	// one by one: its detail maps each suppressed type to how many.
	EventsSuppressed Type = "events.suppressed"
	// WebhookEndpointFailing: a delivery to the endpoint (detail
	// endpoint_id, webhook_id) was retried for 24 hours and given up.
	WebhookEndpointFailing Type = "webhook.endpoint_failing"
)

// types is every event type once, grouped by subject.
var types = []Type{
	SessionCreated, SessionRegenerated, SessionRevoked, SessionEvicted,
	SessionExpired, OtherDevicesLoggedOut, UserLoggedOut, SessionLimitRejected,
	VerifyRejected, CSRFMismatch, ReauthRequired, StepUpRequired, BindingMismatch, SessionSteppedUp,
	GuessingThrottled, KeyRotated, KeyRetired, PolicyChanged,
	APIKeyCreated, APIKeyRevoked, TenantCreated, TenantUpdated,
	AdminLoginSucceeded, AdminLoginFailed, AdminCreated, AdminPasswordChanged, AdminPasswordChangeFailed, AdminDeleted,
	EventsSuppressed, WebhookEndpointFailing,
}

// Types returns every event type, each once, in a stable order grouped by
// subject (sessions, verify, keys and policy, API keys, tenants, admins,
// the event log itself, webhooks).
// It is the one list of event types: the OpenAPI enum and the admin UI's
// filter are checked against it. The caller may modify the result.
func Types() []Type { return slices.Clone(types) }

// Known reports whether t is one of Types.
func (t Type) Known() bool { return slices.Contains(types, t) }

// Event is one security event.
//
// It names two parties apart: the caller that made the request (Actor:
// "api_key:<id>", "admin:<email>", "operator" or "system", with the
// caller's own IP and UserAgent: for an API call, the app's server), and
// the end user's Device, as the app passed it in the request (device.ip,
// device.user_agent, device.label), when the request carried one. Events
// stored before Device existed have none.
type Event struct {
	// ID is the event's unique id (see NewID), given when it is recorded;
	// it is what makes storing the event twice harmless.
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Type      Type      `json:"type"`
	Time      time.Time `json:"time"`
	UserID    string    `json:"user_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	// Device is the end user's device; nil when the request named none.
	Device *Device `json:"device,omitempty"`
	// IP and UserAgent are the caller's (Actor's), not the end user's.
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"`
}

// Device is the end user's device as the tenant's app described it.
type Device struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Label     string `json:"label,omitempty"`
}

// NewDevice returns a Device of its fields, or nil when all are empty.
func NewDevice(ip, userAgent, label string) *Device {
	if ip == "" && userAgent == "" && label == "" {
		return nil
	}
	return &Device{IP: ip, UserAgent: userAgent, Label: label}
}

// Recorder accepts events. Record never blocks the caller on I/O.
type Recorder interface {
	Record(Event)
}

// Filter selects events in a listing.
type Filter struct {
	TenantID string
	Type     Type
	UserID   string
	Cursor   string
	Limit    int
}

// Store is where events are kept. List returns events newest first and the
// cursor of the next page ("" at the end); it returns fault.InvalidRequest for
// a malformed cursor and fault.Unavailable when the database is down.
// WriteEvents and a Spool's Push read their batch only during the call (the
// Writer uses its array again).
type Store interface {
	WriteEvents(ctx context.Context, batch []Event) error
	ListEvents(ctx context.Context, f Filter) ([]Event, string, error)
}

// HourlyCount is how many events of one type, and one detail "reason" ("" if
// none), a tenant had in one hour (UTC, truncated).
type HourlyCount struct {
	Hour   time.Time
	Type   Type
	Reason string
	Count  int
}

// Counter aggregates stored events for charts.
type Counter interface {
	// CountHourly counts tenantID's events of the given types at or after
	// since, per hour, type and reason, oldest hour first.
	CountHourly(ctx context.Context, tenantID string, since time.Time, types []Type) ([]HourlyCount, error)
}
