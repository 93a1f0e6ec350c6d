package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name, remote, xff, want string
	}{
		{"a direct client", "203.0.113.5:1234", "", "203.0.113.5"},
		{"a direct client forging X-Forwarded-For", "203.0.113.5:1234", "1.2.3.4", "203.0.113.5"},
		{"behind a trusted proxy", "10.0.0.2:80", "198.51.100.7", "198.51.100.7"},
		{"behind two trusted proxies", "10.0.0.2:80", "198.51.100.7, 10.0.0.9", "198.51.100.7"},
		{"a forged hop before the real client", "10.0.0.2:80", "1.2.3.4, 198.51.100.7", "198.51.100.7"},
		{"a trusted proxy with garbage", "10.0.0.2:80", "not-an-ip", "10.0.0.2"},
		{"IPv4-mapped IPv6", "[::ffff:203.0.113.5]:1", "", "203.0.113.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if got := clientIP(r, trusted); got != c.want {
				t.Fatalf("clientIP = %s, want %s", got, c.want)
			}
		})
	}
}
