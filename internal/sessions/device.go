package sessions

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/mileusna/useragent"

	"github.com/sessiond/sessiond/internal/fault"
)

// Bounds on device attributes.
const (
	maxUserAgentLen = 1024
	maxLabelLen     = 200
)

// device validates d and returns it normalised (IP in canonical form, label
// filled in) with the IP's binding key (normalizeIP).
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
		d.Label = m.labels.label(d.UserAgent)
		if len(d.Label) > maxLabelLen {
			d.Label = d.Label[:maxLabelLen]
		}
	}
	return d, prefix, nil
}

// maxCachedLabels bounds a labelCache; past it, it starts again empty.
const maxCachedLabels = 1024

// labelCache is a Labeler that remembers the labels of the user agents it
// has seen, since parsing a user agent takes microseconds and an app's
// users share few of them. Safe for concurrent use.
type labelCache struct {
	labeler func(userAgent string) string
	labels  sync.Map // user agent → label
	n       atomic.Int64
}

func newLabelCache(labeler func(string) string) *labelCache {
	return &labelCache{labeler: labeler}
}

// label returns the labeler's label of userAgent.
func (c *labelCache) label(userAgent string) string {
	if l, ok := c.labels.Load(userAgent); ok {
		return l.(string)
	}
	l := c.labeler(userAgent)
	if c.n.Add(1) > maxCachedLabels {
		c.labels.Clear()
		c.n.Store(1)
	}
	c.labels.Store(userAgent, l)
	return l
}

// normalizeIP returns an IP in canonical form and its binding key: the
// bytes of its /24 (IPv4, 3 bytes) or /48 (IPv6, 6 bytes) prefix, so that
// verify compares networks without parsing addresses, and keys of the two
// families never match. "" stays "".
func normalizeIP(s string) (string, string, error) {
	if s == "" {
		return "", "", nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return "", "", fault.Invalid("device.ip", "must be an IPv4 or IPv6 address")
	}
	addr = addr.WithZone("").Unmap()
	raw := addr.AsSlice()
	prefix := 6
	if addr.Is4() {
		prefix = 3
	}
	return addr.String(), string(raw[:prefix]), nil
}

// DeviceLabel is the default Labeler: a readable device label from a user
// agent, like "Chrome 126 on macOS", "Safari 17 on iPhone" or
// "Googlebot (bot)", parsed by github.com/mileusna/useragent (pure Go, no
// data files); "" for an empty user agent. The REST API's device.label and
// the admin UI both show it.
func DeviceLabel(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return ""
	}
	p := useragent.Parse(ua)
	browser := p.Name
	if browser == "" {
		browser = "Unknown browser"
	}
	if p.Bot {
		return browser + " (bot)"
	}
	if v := p.VersionNo.Major; v > 0 {
		browser += " " + strconv.Itoa(v)
	}
	where := p.OS
	if p.Device != "" && (p.Mobile || p.Tablet) {
		where = p.Device
	}
	if where == "" {
		return browser
	}
	return browser + " on " + where
}
