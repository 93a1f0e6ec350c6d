package adminauth

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/testkit"
)

func TestDeviceCookiesAreKnownForTheirAccountUntilTheyExpire(t *testing.T) {
	d := devices{key: secrets.Random(32)}
	clock := testkit.NewClock()
	v := d.issue("ops@acme.example", "", clock.Now())
	id := d.known(v, "ops@acme.example", clock.Now())
	if len(id) != 16 {
		t.Fatalf("known(%q) = %q, want a 16-character device id", v, id)
	}
	if again := d.issue("ops@acme.example", id, clock.Now()); d.known(again, "ops@acme.example", clock.Now()) != id {
		t.Fatal("a renewed cookie changed the device id")
	}
	for name, got := range map[string]string{
		"another account":          d.known(v, "dev@acme.example", clock.Now()),
		"another deployment":       devices{key: secrets.Random(32)}.known(v, "ops@acme.example", clock.Now()),
		"at its expiry":            d.known(v, "ops@acme.example", clock.Now().Add(DeviceLifetime)),
		"an extended expiry":       d.known(v[:20]+"9"+v[21:], "ops@acme.example", clock.Now()),
		"not a cookie of ours":     d.known("v1.x.y.z", "ops@acme.example", clock.Now()),
		"bytes that are not UTF-8": d.known("d1.\xff\x00aaaaaaaaaaaaaa.1.x", "ops@acme.example", clock.Now()),
	} {
		if got != "" {
			t.Errorf("%s: known = %q, want not known", name, got)
		}
	}
	if d.known(v, "ops@acme.example", clock.Now().Add(DeviceLifetime-time.Second)) != id {
		t.Error("not known a second before its expiry")
	}
}
