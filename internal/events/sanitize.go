package events

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bounds, in bytes, of an event's text fields once sanitised. Identifiers
// and names sessiond makes are far shorter; the bounds only stop a client
// from filling the security log with whatever it sends.
const (
	MaxIDBytes          = 256 // tenant id, user id, session id
	MaxTypeBytes        = 64
	MaxIPBytes          = 64
	MaxUserAgentBytes   = 512
	MaxLabelBytes       = 200 // a device label
	MaxActorBytes       = 320 // "admin:" and an email address
	MaxDetailKeyBytes   = 64
	MaxDetailValueBytes = 512
	MaxDetailEntries    = 32
)

// Sanitized returns e with every text field (tenant id, type, user id,
// session id, IP, user agent, actor, the device's IP, user agent and
// label, and each detail key and value) made valid UTF-8 without NUL, and
// cut to its bound on a rune boundary. Invalid bytes and NUL become U+FFFD. Detail keeps at most MaxDetailEntries
// entries, the first in key order; when two keys become equal the first in
// key order wins. The result can always be stored and logged; e itself
// (including its Detail map) is not modified, and the result shares e's
// Device and Detail where they needed no change.
func (e Event) Sanitized() Event {
	e.TenantID = cleanText(e.TenantID, MaxIDBytes)
	e.Type = Type(cleanText(string(e.Type), MaxTypeBytes))
	e.UserID = cleanText(e.UserID, MaxIDBytes)
	e.SessionID = cleanText(e.SessionID, MaxIDBytes)
	e.IP = cleanText(e.IP, MaxIPBytes)
	e.UserAgent = cleanText(e.UserAgent, MaxUserAgentBytes)
	e.Actor = cleanText(e.Actor, MaxActorBytes)
	if d := e.Device; d != nil && !d.clean() {
		e.Device = NewDevice(cleanText(d.IP, MaxIPBytes), cleanText(d.UserAgent, MaxUserAgentBytes), cleanText(d.Label, MaxLabelBytes))
	}
	if !detailClean(e.Detail) {
		e.Detail = cleanDetail(e.Detail)
	}
	return e
}

// clean reports whether d is Sanitized as it is: not empty, every field
// clean.
func (d *Device) clean() bool {
	return *d != Device{} && isClean(d.IP, MaxIPBytes) && isClean(d.UserAgent, MaxUserAgentBytes) && isClean(d.Label, MaxLabelBytes)
}

// isClean reports whether s needs no change to be stored within max bytes.
func isClean(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// cleanText returns s as valid UTF-8 without NUL, at most max bytes long.
func cleanText(s string, max int) string {
	if isClean(s, max) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func detailClean(d map[string]string) bool {
	if len(d) > MaxDetailEntries {
		return false
	}
	for k, v := range d {
		if !isClean(k, MaxDetailKeyBytes) || !isClean(v, MaxDetailValueBytes) {
			return false
		}
	}
	return true
}

func cleanDetail(d map[string]string) map[string]string {
	out := make(map[string]string, min(len(d), MaxDetailEntries))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if len(out) == MaxDetailEntries {
			break
		}
		ck := cleanText(k, MaxDetailKeyBytes)
		if _, taken := out[ck]; !taken {
			out[ck] = cleanText(d[k], MaxDetailValueBytes)
		}
	}
	return out
}
