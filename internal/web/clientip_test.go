package web

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
			if got := ClientIP(r, trusted); got != c.want {
				t.Fatalf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
}

func TestIsHTTPSBelievesXForwardedProtoOnlyFromTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name, remote, proto string
		want                bool
	}{
		{"plain HTTP", "203.0.113.5:1234", "", false},
		{"a client forging X-Forwarded-Proto", "203.0.113.5:1234", "https", false},
		{"a trusted proxy that terminated TLS", "10.0.0.2:80", "https", true},
		{"a trusted proxy over plain HTTP", "10.0.0.2:80", "http", false},
		{"the first of several protocols", "10.0.0.2:80", "HTTPS, http", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if got := IsHTTPS(r, trusted); got != c.want {
				t.Fatalf("IsHTTPS = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSourceKeyGroupsIPv6ByItsSlash64(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"203.0.113.5", "203.0.113.5"},
		{"::ffff:203.0.113.5", "203.0.113.5"},
		{"2001:db8:1:2::a", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::a", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"@", "@"},
	} {
		if got := SourceKey(c.ip); got != c.want {
			t.Errorf("SourceKey(%q) = %q, want %q", c.ip, got, c.want)
		}
	}
}
