package sessions

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/fault"
)

// Bounds on device attributes.
const (
	maxUserAgentLen = 1024
	maxLabelLen     = 200
)

// device validates d and returns it normalised (IP in canonical form, label
// filled in) with the IP prefix used for binding.
func (m *Manager) device(d Device) (Device, string, error) {
	if len(d.UserAgent) > maxUserAgentLen || !utf8.ValidString(d.UserAgent) {
		return Device{}, "", fault.Invalid("device.user_agent", "must be valid UTF-8 of at most %d bytes", maxUserAgentLen)
	}
	if len(d.Label) > maxLabelLen || !utf8.ValidString(d.Label) {
		return Device{}, "", fault.Invalid("device.label", "must be valid UTF-8 of at most %d bytes", maxLabelLen)
	}
	ip, prefix, err := normalizeIP(d.IP)
	if err != nil {
		return Device{}, "", err
	}
	d.IP = ip
	if d.Label == "" && d.UserAgent != "" {
		d.Label = m.labeler(d.UserAgent)
		if len(d.Label) > maxLabelLen {
			d.Label = d.Label[:maxLabelLen]
		}
	}
	return d, prefix, nil
}

// normalizeIP returns an IP in canonical form and its binding prefix: the
// /24 of an IPv4 address, the /48 of an IPv6 one. "" stays "".
func normalizeIP(s string) (string, string, error) {
	if s == "" {
		return "", "", nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return "", "", fault.Invalid("device.ip", "must be an IPv4 or IPv6 address")
	}
	addr = addr.WithZone("").Unmap()
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	prefix, _ := addr.Prefix(bits)
	return addr.String(), prefix.String(), nil
}

// DeviceLabel is the default Labeler: a rough "<browser> on <OS>" guess from
// a user agent, e.g. "Chrome on macOS"; "" for an empty user agent.
func DeviceLabel(ua string) string {
	if ua == "" {
		return ""
	}
	has := func(s string) bool { return strings.Contains(ua, s) }
	browser := "Unknown browser"
	switch {
	case has("Edg/") || has("Edge/"):
		browser = "Edge"
	case has("OPR/") || has("Opera"):
		browser = "Opera"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Firefox/") || has("FxiOS/"):
		browser = "Firefox"
	case has("Chrome/") || has("CriOS/") || has("Chromium/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	case strings.HasPrefix(ua, "curl/"):
		browser = "curl"
	}
	os := ""
	switch {
	case has("iPhone") || has("iPad") || has("iPod"):
		os = "iOS"
	case has("Android"):
		os = "Android"
	case has("CrOS"):
		os = "ChromeOS"
	case has("Mac OS X") || has("Macintosh"):
		os = "macOS"
	case has("Windows"):
		os = "Windows"
	case has("Linux"):
		os = "Linux"
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
