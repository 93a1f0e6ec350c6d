package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// Tenants must not reach sessiond's own network through their webhooks.
// An endpoint's URL must be https and every address its host resolves to
// public (CheckURL, at create and update); the sending client checks the
// address it actually connects to again (DNS may have changed since, on
// purpose: rebinding), and follows no redirect. With allowPrivate
// (SESSIOND_WEBHOOK_ALLOW_PRIVATE, for tests and private deployments) any
// address and plain http are allowed.

// blocked are the ranges no webhook may reach, beyond what netip's
// IsLoopback, IsPrivate, IsLinkLocal*, IsMulticast and IsUnspecified
// cover.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata (169.254.169.254)
	netip.MustParsePrefix("fd00:ec2::/32"),   // AWS metadata over IPv6 (also in fc00::/7)
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("2001::/32"),       // Teredo: embeds an IPv4 address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("::ffff:0:0:0/96"), // SIIT IPv4-translated
}

// nat64 is the well-known NAT64 prefix: the last 32 bits are an IPv4
// address, checked as such.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Public reports whether a webhook may connect to addr.
func Public(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	if nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// MaxURLBytes bounds an endpoint's URL.
const MaxURLBytes = 2048

// Resolver looks up a host's addresses (net.DefaultResolver in
// production).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL returns the normalised URL of an endpoint, or
// fault.InvalidRequest naming field: an absolute https URL without user
// info or fragment, whose host resolves only to public addresses; with
// allowPrivate, http and any address are allowed too.
func CheckURL(ctx context.Context, r Resolver, raw, field string, allowPrivate bool) (string, error) {
	bad := func(format string, a ...any) error { return fault.Invalid(field, format, a...) }
	if len(raw) > MaxURLBytes {
		return "", bad("must be at most %d bytes", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", bad("must be an absolute https URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return "", bad("must be an https URL")
	}
	if u.User != nil || u.Fragment != "" {
		return "", bad("must not hold user info or a fragment")
	}
	if allowPrivate {
		return u.String(), nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
			return "", bad("must not name a loopback, private, link-local or metadata address")
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if addrs, err = r.LookupNetIP(lctx, "ip", host); err != nil || len(addrs) == 0 {
			return "", bad("names a host that does not resolve")
		}
	}
	for _, a := range addrs {
		if !Public(a) {
			return "", bad("must not name a loopback, private, link-local or metadata address")
		}
	}
	return u.String(), nil
}

// errBlocked is the error of a connection refused by the address check.
var errBlocked = errors.New("webhook endpoint address is not public")

// NewClient returns the HTTP client of deliveries: timeout per attempt, no
// redirects followed (a 3xx is a failed attempt), no proxy from the
// environment, and, unless allowPrivate, every connection's address
// checked with Public when it is made (after DNS, so a host that resolved
// to a public address at create time and to a private one now is refused).
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !Public(ap.Addr()) {
				return fmt.Errorf("%w: %s", errBlocked, address)
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
