package webhooks_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/webhooks"
)

// The Standard Webhooks reference vector.
func TestSignatureMatchesStandardWebhooks(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	at := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	got, err := webhooks.Signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body)
	if err != nil || got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature = %q, %v", got, err)
	}
	h := http.Header{}
	if err := webhooks.SignHeaders(h, []string{webhooks.NewSecret(), secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body); err != nil {
		t.Fatal(err)
	}
	if err := webhooks.Verify(secret, h, body, at.Add(time.Minute)); err != nil {
		t.Errorf("second of two signatures: %v", err)
	}
	if webhooks.Verify(secret, h, body, at.Add(10*time.Minute)) == nil {
		t.Error("an old timestamp verified")
	}
}

func TestPublicAddresses(t *testing.T) {
	for s, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true,
		"127.0.0.1": false, "::1": false, "::ffff:127.0.0.1": false, "10.1.2.3": false, "172.31.0.1": false,
		"192.168.0.1": false, "169.254.169.254": false, "fd00:ec2::254": false, "fe80::1": false, "0.0.0.0": false,
		"::": false, "100.64.1.1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::5db8:d822": true, "224.0.0.1": false,
		"255.255.255.255": false, "2002:7f00:1::": false, "::127.0.0.1": false,
	} {
		if got := webhooks.Public(netip.MustParseAddr(s)); got != want {
			t.Errorf("Public(%s) = %v, want %v", s, got, want)
		}
	}
}
