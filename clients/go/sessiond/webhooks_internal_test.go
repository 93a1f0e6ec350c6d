package sessiond

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The Standard Webhooks reference vector, which the server's test checks too.
func TestVerifyWebhook(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"type":"x","timestamp":"2021-02-25T15:02:10Z","data":{"id":"i","tenant_id":"t"}}`)
	vector := []byte(`{"test": 2432232314}`)
	at := time.Unix(1614265330, 0)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,AAAA v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if _, err := verifyWebhookAt(secret, h, vector, at); err != nil {
		t.Fatalf("reference vector: %v", err)
	}
	for name, err := range map[string]error{
		"changed body":  func() error { _, err := verifyWebhookAt(secret, h, body, at); return err }(),
		"old timestamp": func() error { _, err := verifyWebhookAt(secret, h, vector, at.Add(6*time.Minute)); return err }(),
		"no headers":    func() error { _, err := verifyWebhookAt(secret, http.Header{}, vector, at); return err }(),
	} {
		if !errors.Is(err, ErrWebhookSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
