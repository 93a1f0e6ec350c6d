// Package layout declares, once, how redisstore stores a session: the
// fields of its MessagePack array, in order. The Go codec
// (redisstore/codec_gen.go), the Lua decode and encode every script starts
// with (redisstore/lua/layout.lua) and the table in docs/architecture.md are
// generated from Fields by `go generate ./internal/sessions/redisstore/`;
// redisstore's tests fail when one of them is stale.
//
// Changing the order or the kind of a field changes the stored bytes: sessions
// already stored no longer decode (docs/architecture.md, "Upgrading").
// Appending a field does not (MinFields).
package layout

// Kind is how a field is stored.
type Kind int

const (
	// Str is a string, stored as is.
	Str Kind = iota
	// Int is an integer, stored as is.
	Int
	// Base is the integer time the other times are stored relative to
	// (exactly one field; before every field relative to it).
	Base
	// SinceBase is a time stored as milliseconds after Base.
	SinceBase
	// SinceBaseOrNever is a time stored as milliseconds after Base, or -1
	// when it is 0 (never); it is never before Base.
	SinceBaseOrNever
	// IPBytes is a canonical IP address, stored as its 4 or 16 bytes ("" for
	// none); Lua keeps the bytes.
	IPBytes
)

// Field is one element of a stored session's array.
type Field struct {
	Name   string // short name: Lua's table key and the docs' name
	Record string // the sessions.Record field it holds
	Kind   Kind
	Doc    string // what it means (Markdown)
}

// Fields is the stored session, in array order. Every sessions.Record field
// is in it once.
var Fields = []Field{
	{"uid", "UserID", Str, "user id, `\"\"` for an anonymous session"},
	{"ca", "CreatedAt", Base, "created_at"},
	{"ls", "LastSeenAt", SinceBase, "last seen"},
	{"at", "AuthTime", SinceBaseOrNever, "auth_time (never: the user has not authenticated)"},
	{"exp", "ExpiresAt", SinceBase, "absolute deadline"},
	{"idle", "IdleTimeout", Int, "the session's idle timeout, seconds"},
	{"iexp", "IdleExpiresAt", SinceBase, "idle deadline"},
	{"ver", "Version", Int, "data version"},
	{"kid", "KeyID", Str, "the key that last signed the token (re-signing updates it)"},
	{"ua", "UserAgent", Str, "user agent, in full"},
	{"ip", "IP", IPBytes, "device IP"},
	{"ipb", "IPBinding", Str, "the IP's binding key: the bytes of its /24 (IPv4) or /48 (IPv6) prefix, so verify compares networks without parsing addresses"},
	{"lbl", "Label", Str, "device label"},
	{"data", "Data", Str, "the app's JSON object, compact"},
	{"amr", "Factors", Str, "the methods the user proved: `method:kind:ms,…`, kind `k`, `p` or `i`, ms after `ca` (sessions.AddFactors)"},
	{"prof", "Profile", Int, "the lifetime it lives by: 0 standard, 1 remember-me, 2 impersonation (sessions.Timeouts.For)"},
	{"act", "Actor", Str, "who holds an impersonated session, `type:id`; `\"\"` the user's own"},
}

// MinFields is how many fields a session stored by an older release has:
// the fields after it were appended since, and read as their zero ("" or 0)
// when absent, so live sessions need no migration. A field may only be
// appended, and only as Str or Int.
const MinFields = 14
