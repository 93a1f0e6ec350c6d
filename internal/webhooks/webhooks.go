// Package webhooks sends a tenant's security events to the HTTPS endpoints
// it registered, signed as Standard Webhooks 1.0 has it.
//
// Every event is written to an outbox (one delivery per matching endpoint)
// in the same PostgreSQL statement that stores it (see
// postgres.Store.WriteEvents), so an event that is stored is delivered, at
// least once. A Dispatcher on every instance claims due deliveries with FOR
// UPDATE SKIP LOCKED under a lease (a dead instance's claims are taken
// again when it ends), sends each with bounded workers, a per-endpoint
// concurrency limit and a timeout, and retries failures with exponential
// backoff and jitter, with the same webhook-id, for RetryFor (24 h); then
// the delivery is given up and its endpoint marked failing (and an event
// records it). Endpoint URLs are checked against SSRF (ssrf.go).
package webhooks

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sessiond/sessiond/internal/events"
)

// Endpoint statuses.
const (
	StatusActive = "active"
	// StatusFailing: a delivery to the endpoint was given up after
	// RetryFor. Deliveries continue; the next success makes it active.
	StatusFailing = "failing"
)

// Endpoint is a tenant's webhook endpoint, without its secrets.
type Endpoint struct {
	ID          string
	TenantID    string
	URL         string
	Description string
	// EventTypes it receives; empty: every type.
	EventTypes []string
	Status     string
	// FailingSince is when it was marked failing (nil when active).
	FailingSince *time.Time
	// PreviousSecretUntil is the end of a rotation's overlap: until then
	// the previous secret signs too (nil: no overlap).
	PreviousSecretUntil *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Sealed is an endpoint's signing secrets, sealed under the master key.
type Sealed struct {
	Current       []byte
	Previous      []byte // nil when none
	PreviousUntil time.Time
}

// EndpointPatch changes an endpoint; nil fields are unchanged.
type EndpointPatch struct {
	URL         *string
	Description *string
	EventTypes  *[]string
}

// Delivery is one event (message) for one endpoint, with the outcome of
// its last attempt.
type Delivery struct {
	ID         int64
	EndpointID string
	TenantID   string
	// MsgID is the webhook-id: the event's id, the same on every attempt.
	MsgID     string
	EventType string
	Payload   []byte
	State     string // pending, delivered, failed
	Attempts  int
	CreatedAt time.Time
	// NextAttempt is when a pending delivery is tried next.
	NextAttempt time.Time
	LastStatus  int // HTTP status of the last attempt, 0 if none
	LastError   string
	// LastLatency of the last attempt.
	LastLatency time.Duration
	DeliveredAt *time.Time
}

// Delivery states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateFailed    = "failed"
)

// Claimed is a delivery claimed for sending, with what sending needs.
type Claimed struct {
	Delivery
	URL    string
	Sealed Sealed
	// EndpointStatus is the endpoint's status when claimed.
	EndpointStatus string
}

// Attempt is the outcome of one sending.
type Attempt struct {
	Status  int
	Error   string
	Latency time.Duration
	At      time.Time
}

// Store keeps endpoints and the outbox (PostgreSQL).
type Store interface {
	// CreateEndpoint stores ep with its sealed secret, unless the tenant
	// already has max endpoints (fault.Conflict).
	CreateEndpoint(ctx context.Context, ep Endpoint, sealed []byte, max int) error
	ListEndpoints(ctx context.Context, tenantID string) ([]Endpoint, error)
	// Endpoint returns one endpoint of the tenant, fault.NotFound if none.
	Endpoint(ctx context.Context, tenantID, id string) (Endpoint, error)
	UpdateEndpoint(ctx context.Context, tenantID, id string, p EndpointPatch, now time.Time) (Endpoint, error)
	DeleteEndpoint(ctx context.Context, tenantID, id string) error
	// RotateSecret makes sealed the current secret and the current one the
	// previous, which signs too until previousUntil.
	RotateSecret(ctx context.Context, tenantID, id string, sealed []byte, previousUntil, now time.Time) (Endpoint, error)

	// Claim takes up to n due deliveries (at most perEndpoint of one
	// endpoint, none of the endpoints in skip), fairly across endpoints,
	// and leases them to claim until now+lease.
	Claim(ctx context.Context, claim string, now time.Time, lease time.Duration, n, perEndpoint int, skip []string) ([]Claimed, error)
	// Finish records an attempt of a claimed delivery: delivered, or
	// pending again at retryAt, or failed (retryAt nil and not ok). It
	// returns fault.Conflict when the claim is no longer the delivery's.
	Finish(ctx context.Context, id int64, claim string, a Attempt, ok bool, retryAt *time.Time) error
	// SetEndpointStatus sets an endpoint's status and reports whether it
	// changed.
	SetEndpointStatus(ctx context.Context, endpointID, status string, now time.Time) (bool, error)
	// Deliveries lists an endpoint's latest deliveries, newest first.
	Deliveries(ctx context.Context, tenantID, endpointID string, limit int) ([]Delivery, error)
	// Redeliver makes a delivery of the tenant's endpoint pending again,
	// due now (fault.NotFound if there is none).
	Redeliver(ctx context.Context, tenantID, endpointID string, id int64, now time.Time) error
	// Enqueue adds a delivery of payload under msgID to one endpoint.
	Enqueue(ctx context.Context, tenantID, endpointID, msgID, eventType string, payload []byte, now time.Time) error
}

// Payload is the JSON body of a webhook: the event type, its time, and
// its data. It is stable per event type: fields are only ever added.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is what the event is about.
type Data struct {
	// ID is the event's id (also the webhook-id header).
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	SessionID string `json:"session_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	// Device is the end user's device, when the request named one.
	Device *events.Device `json:"device,omitempty"`
	// Actor is the caller.
	Actor *Actor `json:"actor,omitempty"`
	// Reason is detail["reason"], when the event has one.
	Reason string            `json:"reason,omitempty"`
	Detail map[string]string `json:"detail,omitempty"`
}

// Actor is who made the request: its name and, for an API key, its IP
// and user agent (the app's server). An operator's or an admin's IP is
// never sent.
type Actor struct {
	Name      string `json:"name"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// PayloadOf returns the webhook body of e (as stored: see
// events.Event.ForTenant). It never holds a token: events never do. It
// fails only for a time JSON cannot hold (a year past 9999).
func PayloadOf(e events.Event) ([]byte, error) {
	d := Data{ID: e.ID, TenantID: e.TenantID, SessionID: e.SessionID, UserID: e.UserID, Device: e.Device,
		Reason: e.Detail["reason"], Detail: e.Detail}
	if e.Actor != "" {
		d.Actor = &Actor{Name: e.Actor}
		if len(e.Actor) > len("api_key:") && e.Actor[:len("api_key:")] == "api_key:" {
			d.Actor.IP, d.Actor.UserAgent = e.IP, e.UserAgent
		}
	}
	return json.Marshal(Payload{Type: string(e.Type), Timestamp: e.Time.UTC(), Data: d})
}

// TestType is the type of the payload "send test event" delivers; it is
// not a security event and is not stored as one.
const TestType = "webhook.test"
