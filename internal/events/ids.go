package events

import (
	"strings"

	"github.com/sessiond/sessiond/internal/secrets"
)

// IDPrefix starts every event id.
const IDPrefix = "ev_"

// idBytes is the number of random bytes of an event id.
const idBytes = 16

// NewID returns a new event id: IDPrefix and 16 random bytes in lower-case
// base32 (26 characters). It carries no sequence, so it says nothing about
// how many events other tenants have.
func NewID() string { return FormatID(([idBytes]byte)(secrets.Random(idBytes))) }

// FormatID returns the event id of its 16 bytes.
func FormatID(b [16]byte) string { return IDPrefix + secrets.Encode(b[:]) }

// ParseID returns the 16 bytes of an event id made by NewID or FormatID,
// and false for anything else.
func ParseID(id string) ([16]byte, bool) {
	var out [16]byte
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || len(rest) != 26 {
		return out, false
	}
	b, err := secrets.Decode(rest)
	if err != nil || len(b) != idBytes || secrets.Encode(b) != rest {
		return out, false
	}
	return [16]byte(b), true
}

// ActorOperator is the actor of an event the operator caused through the
// API (the operator token).
const ActorOperator = "operator"

// ForTenant returns e as a tenant may see it: an event whose actor is the
// operator carries neither the operator's IP nor its user agent (those stay
// in the operator's log line only).
func (e Event) ForTenant() Event {
	if e.Actor == ActorOperator {
		e.IP, e.UserAgent = "", ""
	}
	return e
}

// ForTenantList returns list with ForTenant applied to each event, and
// also without the IP and user agent of every event whose actor
// isOperator reports (an operator signed in to the admin UI acts as
// "admin:<email>", which only the caller can tell from a tenant admin).
// list itself is not modified.
func ForTenantList(list []Event, isOperator func(actor string) bool) []Event {
	out := make([]Event, len(list))
	for i, e := range list {
		e = e.ForTenant()
		if e.Actor != "" && isOperator(e.Actor) {
			e.IP, e.UserAgent = "", ""
		}
		out[i] = e
	}
	return out
}
