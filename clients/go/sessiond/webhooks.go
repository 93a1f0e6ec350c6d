package sessiond

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookTolerance is how far webhook-timestamp may be from now in
// VerifyWebhook.
const WebhookTolerance = 5 * time.Minute

// ErrWebhookSignature is the error of a webhook that does not verify.
var ErrWebhookSignature = errors.New("sessiond: webhook does not verify")

// WebhookPayload is the body of a sessiond webhook (api/openapi.yaml,
// WebhookPayload).
type WebhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		ID        string `json:"id"`
		TenantID  string `json:"tenant_id"`
		SessionID string `json:"session_id,omitempty"`
		UserID    string `json:"user_id,omitempty"`
		Device    *struct {
			IP        string `json:"ip,omitempty"`
			UserAgent string `json:"user_agent,omitempty"`
			Label     string `json:"label,omitempty"`
		} `json:"device,omitempty"`
		Actor *struct {
			Name      string `json:"name"`
			IP        string `json:"ip,omitempty"`
			UserAgent string `json:"user_agent,omitempty"`
		} `json:"actor,omitempty"`
		Reason string            `json:"reason,omitempty"`
		Detail map[string]string `json:"detail,omitempty"`
	} `json:"data"`
}

// VerifyWebhook checks a webhook sessiond sent (Standard Webhooks 1.0) and
// returns its payload: webhook-timestamp within WebhookTolerance of now,
// and one of the space-separated "v1,<base64>" signatures in
// webhook-signature (two during a secret rotation) equal, in constant
// time, to the HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>"
// keyed with the base64 decoding of secret after "whsec_". Pass the body
// exactly as received. Errors wrap ErrWebhookSignature.
func VerifyWebhook(secret string, h http.Header, body []byte) (*WebhookPayload, error) {
	return verifyWebhookAt(secret, h, body, time.Now())
}

func verifyWebhookAt(secret string, h http.Header, body []byte, now time.Time) (*WebhookPayload, error) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return nil, errors.Join(ErrWebhookSignature, errors.New("missing webhook-id, webhook-timestamp or webhook-signature"))
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errors.Join(ErrWebhookSignature, errors.New("bad webhook-timestamp"))
	}
	if d := now.Sub(time.Unix(sec, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return nil, errors.Join(ErrWebhookSignature, errors.New("webhook-timestamp too far from now"))
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, errors.New("sessiond: the webhook secret is not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := []byte("v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), want) {
			var p WebhookPayload
			if err := json.Unmarshal(body, &p); err != nil {
				return nil, err
			}
			return &p, nil
		}
	}
	return nil, errors.Join(ErrWebhookSignature, errors.New("no matching signature"))
}
