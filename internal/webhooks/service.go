package webhooks

import (
	"context"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Bounds of an endpoint's fields.
const (
	MaxDescriptionBytes = 500
	// DefaultOverlap is how long the previous secret signs too after a
	// rotation, unless the request names another (at most MaxOverlap).
	DefaultOverlap = 24 * time.Hour
	MaxOverlap     = 7 * 24 * time.Hour
)

// Sealer seals and opens endpoint secrets (secrets.Sealer).
type Sealer interface {
	Seal(plaintext, additional []byte) []byte
	Opener
}

// Service manages a tenant's endpoints for the API and the admin UI.
type Service struct {
	Store  Store
	Sealer Sealer
	// MaxEndpoints is a tenant's webhook_endpoints ceiling.
	MaxEndpoints func(tenantID string) int
	// AllowPrivate lifts the https and address rules
	// (SESSIOND_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	Resolver     Resolver // default net.DefaultResolver
	Now          func() time.Time
	// Kick, if set, is called when a delivery is due now (test, redeliver).
	Kick func()
}

// NewEndpoint is a create request.
type NewEndpoint struct {
	URL         string
	Description string
	EventTypes  []string
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) resolver() Resolver {
	if s.Resolver == nil {
		return net.DefaultResolver
	}
	return s.Resolver
}

// Create stores a new endpoint and returns it with its signing secret,
// which is shown only here. Errors: fault.InvalidRequest (url,
// description, event_types), fault.Conflict (the tenant's
// webhook_endpoints ceiling).
func (s *Service) Create(ctx context.Context, tenantID string, in NewEndpoint) (Endpoint, string, error) {
	u, err := CheckURL(ctx, s.resolver(), in.URL, "url", s.AllowPrivate)
	if err != nil {
		return Endpoint{}, "", err
	}
	if err := checkDescription(in.Description); err != nil {
		return Endpoint{}, "", err
	}
	types, err := checkTypes(in.EventTypes)
	if err != nil {
		return Endpoint{}, "", err
	}
	now := s.now()
	ep := Endpoint{ID: secrets.NewID("wh_"), TenantID: tenantID, URL: u, Description: in.Description, EventTypes: types,
		Status: StatusActive, CreatedAt: now, UpdatedAt: now}
	secret := NewSecret()
	if err := s.Store.CreateEndpoint(ctx, ep, s.Sealer.Seal([]byte(secret), SealAAD(ep.ID)), s.MaxEndpoints(tenantID)); err != nil {
		return Endpoint{}, "", err
	}
	return ep, secret, nil
}

// Update changes an endpoint's url, description or event types.
func (s *Service) Update(ctx context.Context, tenantID, id string, p EndpointPatch) (Endpoint, error) {
	if p.URL != nil {
		u, err := CheckURL(ctx, s.resolver(), *p.URL, "url", s.AllowPrivate)
		if err != nil {
			return Endpoint{}, err
		}
		p.URL = &u
	}
	if p.Description != nil {
		if err := checkDescription(*p.Description); err != nil {
			return Endpoint{}, err
		}
	}
	if p.EventTypes != nil {
		types, err := checkTypes(*p.EventTypes)
		if err != nil {
			return Endpoint{}, err
		}
		p.EventTypes = &types
	}
	return s.Store.UpdateEndpoint(ctx, tenantID, id, p, s.now())
}

// RotateSecret gives an endpoint a new secret and returns it; the old one
// signs too for overlap (DefaultOverlap when 0; 0 to MaxOverlap).
func (s *Service) RotateSecret(ctx context.Context, tenantID, id string, overlap time.Duration) (Endpoint, string, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return Endpoint{}, "", fault.Invalid("overlap_seconds", "must be from 0 to %d", int(MaxOverlap/time.Second))
	}
	secret := NewSecret()
	now := s.now()
	ep, err := s.Store.RotateSecret(ctx, tenantID, id, s.Sealer.Seal([]byte(secret), SealAAD(id)), now.Add(overlap), now)
	return ep, secret, err
}

// SendTest queues a webhook.test message to an endpoint and returns its
// webhook-id.
func (s *Service) SendTest(ctx context.Context, tenantID, id string) (string, error) {
	now := s.now()
	msgID := events.NewID()
	body, err := PayloadOf(events.Event{ID: msgID, TenantID: tenantID, Type: TestType, Time: now,
		Detail: map[string]string{"reason": "test", "endpoint_id": id}})
	if err != nil {
		return "", err
	}
	if err := s.Store.Enqueue(ctx, tenantID, id, msgID, TestType, body, now); err != nil {
		return "", err
	}
	s.kick()
	return msgID, nil
}

// Redeliver sends a delivery again (same webhook-id).
func (s *Service) Redeliver(ctx context.Context, tenantID, endpointID string, deliveryID int64) error {
	if err := s.Store.Redeliver(ctx, tenantID, endpointID, deliveryID, s.now()); err != nil {
		return err
	}
	s.kick()
	return nil
}

func (s *Service) kick() {
	if s.Kick != nil {
		s.Kick()
	}
}

func checkDescription(d string) error {
	if len(d) > MaxDescriptionBytes || !utf8.ValidString(d) {
		return fault.Invalid("description", "must be valid UTF-8 of at most %d bytes", MaxDescriptionBytes)
	}
	for _, r := range d {
		if r == 0 {
			return fault.Invalid("description", "must not hold NUL")
		}
	}
	return nil
}

// checkTypes returns types without repeats, each a known event type.
func checkTypes(types []string) ([]string, error) {
	out := make([]string, 0, len(types))
	seen := map[string]bool{}
	for i, t := range types {
		if !events.Type(t).Known() {
			return nil, fault.Invalid("event_types["+strconv.Itoa(i)+"]", "is not an event type")
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}
