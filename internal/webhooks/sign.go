package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
)

// SecretPrefix starts every signing secret, as Standard Webhooks has it:
// "whsec_" and the base64 of the key bytes.
const SecretPrefix = "whsec_"

// secretBytes is the size of a new signing key.
const secretBytes = 32

// NewSecret returns a new signing secret ("whsec_" + base64 of 32 random
// bytes).
func NewSecret() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(secrets.Random(secretBytes))
}

// secretKey returns the key bytes of a "whsec_…" secret.
func secretKey(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
}

// Signature returns the "v1,<base64>" signature of one message under
// secret: HMAC-SHA256 of "<msgID>.<unix seconds>.<body>".
func Signature(secret, msgID string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignHeaders sets the Standard Webhooks headers of one attempt on h:
// webhook-id, webhook-timestamp and webhook-signature with one signature
// per secret, space separated (two during a rotation's overlap).
func SignHeaders(h http.Header, secretList []string, msgID string, at time.Time, body []byte) error {
	sigs := make([]string, 0, len(secretList))
	for _, s := range secretList {
		sig, err := Signature(s, msgID, at, body)
		if err != nil {
			return err
		}
		sigs = append(sigs, sig)
	}
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return nil
}

// Tolerance is how far a webhook-timestamp may be from the receiver's
// clock in Verify.
const Tolerance = 5 * time.Minute

// Verify checks a received webhook as a receiver should (the reference
// for the SDKs' verifyWebhook): the timestamp within Tolerance of now, and
// one of the signatures in webhook-signature equal (in constant time) to
// the v1 signature of webhook-id, webhook-timestamp and body under secret.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: bad webhook-timestamp")
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("webhook: timestamp too far from now")
	}
	want, err := Signature(secret, id, at, body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("webhook: no matching signature")
}
