package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// Webhook endpoints of the caller's tenant (see internal/webhooks).

// webhookView is an endpoint as the API shows it; Secret only when it was
// just made (create, rotate-secret).
type webhookView struct {
	ID                 string     `json:"id"`
	URL                string     `json:"url"`
	Description        string     `json:"description"`
	EventTypes         []string   `json:"event_types"`
	Status             string     `json:"status"`
	FailingSince       *time.Time `json:"failing_since,omitempty"`
	PreviousSecretTill *time.Time `json:"previous_secret_until,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	Secret             string     `json:"secret,omitempty"`
}

func viewOf(ep webhooks.Endpoint, secret string) webhookView {
	return webhookView{ID: ep.ID, URL: ep.URL, Description: ep.Description, EventTypes: ep.EventTypes, Status: ep.Status,
		FailingSince: ep.FailingSince, PreviousSecretTill: ep.PreviousSecretUntil, CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt,
		Secret: secret}
}

type webhookCreateRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	EventTypes  []string `json:"event_types"`
}

type webhookPatchRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
}

type webhookRotateRequest struct {
	OverlapSeconds *int `json:"overlap_seconds"`
}

func (s *server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req webhookCreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ep, secret, err := s.Webhooks.Create(r.Context(), principal(r).TenantID,
		webhooks.NewEndpoint{URL: req.URL, Description: req.Description, EventTypes: req.EventTypes})
	if err != nil {
		return err
	}
	noStore(w)
	return writeJSON(w, http.StatusCreated, viewOf(ep, secret))
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Webhooks.Store.ListEndpoints(r.Context(), principal(r).TenantID)
	if err != nil {
		return err
	}
	out := make([]webhookView, len(list))
	for i, ep := range list {
		out[i] = viewOf(ep, "")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	ep, err := s.Webhooks.Store.Endpoint(r.Context(), principal(r).TenantID, r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewOf(ep, ""))
}

func (s *server) patchWebhook(w http.ResponseWriter, r *http.Request) error {
	var req webhookPatchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ep, err := s.Webhooks.Update(r.Context(), principal(r).TenantID, r.PathValue("webhook_id"),
		webhooks.EndpointPatch{URL: req.URL, Description: req.Description, EventTypes: req.EventTypes})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewOf(ep, ""))
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.Webhooks.Store.DeleteEndpoint(r.Context(), principal(r).TenantID, r.PathValue("webhook_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	var req webhookRotateRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	overlap := webhooks.DefaultOverlap
	if req.OverlapSeconds != nil {
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	ep, secret, err := s.Webhooks.RotateSecret(r.Context(), principal(r).TenantID, r.PathValue("webhook_id"), overlap)
	if err != nil {
		return err
	}
	noStore(w)
	return writeJSON(w, http.StatusOK, viewOf(ep, secret))
}

func (s *server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := s.Webhooks.SendTest(r.Context(), principal(r).TenantID, r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"webhook_id": id})
}

// deliveryView is one delivery as the API shows it.
type deliveryView struct {
	ID          string     `json:"id"`
	WebhookID   string     `json:"webhook_id"`
	EventType   string     `json:"event_type"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	NextAttempt *time.Time `json:"next_attempt_at,omitempty"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LatencyMS   int64      `json:"last_latency_ms"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

func (s *server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	tid, id := principal(r).TenantID, r.PathValue("webhook_id")
	if _, err := s.Webhooks.Store.Endpoint(r.Context(), tid, id); err != nil {
		return err
	}
	list, err := s.Webhooks.Store.Deliveries(r.Context(), tid, id, 50)
	if err != nil {
		return err
	}
	out := make([]deliveryView, len(list))
	for i, d := range list {
		v := deliveryView{ID: strconv.FormatInt(d.ID, 10), WebhookID: d.MsgID, EventType: d.EventType, State: d.State,
			Attempts: d.Attempts, CreatedAt: d.CreatedAt.UTC(), LastStatus: d.LastStatus, LastError: d.LastError,
			LatencyMS: d.LastLatency.Milliseconds(), DeliveredAt: d.DeliveredAt}
		if d.State == webhooks.StatePending {
			next := d.NextAttempt.UTC()
			v.NextAttempt = &next
		}
		out[i] = v
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

func (s *server) redeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.ParseInt(r.PathValue("delivery_id"), 10, 64)
	if err != nil || n <= 0 {
		return fault.New(fault.NotFound, "webhook delivery not found")
	}
	if err := s.Webhooks.Redeliver(r.Context(), principal(r).TenantID, r.PathValue("webhook_id"), n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
