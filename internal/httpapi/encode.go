package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
)

// Hand-written JSON encoders for the bodies of the hot routes: a session
// (create, verify, regenerate, reads), and problems. Each appends exactly
// the bytes json.NewEncoder(w).Encode(v) writes for the same value (HTML
// escaping, RawMessage compaction, the trailing newline), which
// TestEncodersWriteWhatEncodingJSONWrites checks on values with every field
// set, so a field added to a type fails that test until its encoder knows
// it.

// Shared header values. net/http never writes into a header's slice and
// Header.Add appends to a full one (len = cap = 1), which copies it.
var (
	contentTypeJSON    = []string{"application/json"}
	contentTypeProblem = []string{"application/problem+json"}
	noStoreValue       = []string{"no-store"}
	noCacheValue       = []string{"no-cache"}
	nosniffValue       = []string{"nosniff"}
)

var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// writeEncoded writes, with status, the JSON body that enc appends to its
// argument, as writeJSON would write the value.
func writeEncoded(w http.ResponseWriter, status int, enc func([]byte) ([]byte, error)) error {
	bp := encodeBuffers.Get().(*[]byte)
	b, err := enc((*bp)[:0])
	if err != nil {
		encodeBuffers.Put(bp)
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, err = w.Write(b)
	if cap(b) <= 64<<10 { // keep no giant buffer around
		*bp = b
		encodeBuffers.Put(bp)
	}
	return err
}

// appendCreated appends a create or regenerate answer.
func appendCreated(b []byte, c *sessions.Created) ([]byte, error) {
	b = append(b, `{"token":`...)
	b = appendString(b, c.Token)
	b = append(b, `,"csrf_token":`...)
	b = appendString(b, c.CSRFToken)
	b = append(b, `,"session":`...)
	b, err := appendSession(b, &c.Session)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"evicted":`...)
	b = appendStrings(b, c.Evicted)
	return append(b, "}\n"...), nil
}

// appendVerified appends a verify answer.
func appendVerified(b []byte, v *sessions.Verified) ([]byte, error) {
	b = append(b, `{"session":`...)
	b, err := appendSession(b, &v.Session)
	if err != nil {
		return nil, err
	}
	if v.Token != "" {
		b = append(b, `,"token":`...)
		b = appendString(b, v.Token)
	}
	b = append(b, `,"csrf_token":`...)
	b = appendString(b, v.CSRFToken)
	if len(v.BindingMismatch) > 0 {
		b = append(b, `,"binding_mismatch":`...)
		b = appendStrings(b, v.BindingMismatch)
	}
	return append(b, "}\n"...), nil
}

// appendSessionDoc appends one session as a whole answer (GET, PATCH).
func appendSessionDoc(b []byte, s *sessions.Session) ([]byte, error) {
	b, err := appendSession(b, s)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func appendSession(b []byte, s *sessions.Session) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, s.ID)
	if s.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = appendString(b, s.UserID)
	}
	b = append(b, `,"created_at":"`...)
	if b, err = s.CreatedAt.AppendText(b); err != nil {
		return nil, err
	}
	b = append(b, `","last_seen_at":"`...)
	if b, err = s.LastSeenAt.AppendText(b); err != nil {
		return nil, err
	}
	b = append(b, '"')
	if s.AuthTime != nil {
		b = append(b, `,"auth_time":"`...)
		if b, err = s.AuthTime.AppendText(b); err != nil {
			return nil, err
		}
		b = append(b, '"')
	}
	b = append(b, `,"expires_at":"`...)
	if b, err = s.ExpiresAt.AppendText(b); err != nil {
		return nil, err
	}
	b = append(b, `","idle_expires_at":"`...)
	if b, err = s.IdleExpiresAt.AppendText(b); err != nil {
		return nil, err
	}
	b = append(b, `","idle_timeout":`...)
	b = strconv.AppendInt(b, int64(s.IdleTimeout), 10)
	b = append(b, `,"device":{`...)
	sep := false
	for _, f := range [...]struct{ name, value string }{
		{`"user_agent":`, s.Device.UserAgent}, {`"ip":`, s.Device.IP}, {`"label":`, s.Device.Label},
	} {
		if f.value == "" {
			continue
		}
		if sep {
			b = append(b, ',')
		}
		b = append(b, f.name...)
		b = appendString(b, f.value)
		sep = true
	}
	b = append(b, `},"data":`...)
	if b, err = appendRaw(b, s.Data); err != nil {
		return nil, err
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, s.Version, 10)
	return append(b, '}'), nil
}

// appendStrings appends a list of strings (null when nil, as encoding/json).
func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendRaw appends a json.RawMessage as encoding/json does: null when
// nil, else compacted, with <, >, &, U+2028 and U+2029 escaped; an error
// when it is not JSON.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: invalid JSON")
	}
	if !needsCompaction(raw) {
		return append(b, raw...), nil
	}
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return append(b, escaped.Bytes()...), nil
}

// needsCompaction reports whether raw may hold whitespace or characters
// encoding/json escapes (0xE2 starts U+2028 and U+2029, among others).
func needsCompaction(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes it
// (escapeHTML on): <, > and & as \u003c..., control characters escaped,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendProblem appends a problem+json body.
func appendProblem(b []byte, p *problem) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, p.Type)
	b = append(b, `,"title":`...)
	b = appendString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, p.Detail)
	}
	b = append(b, `,"code":`...)
	b = appendString(b, string(p.Code))
	b = append(b, `,"request_id":`...)
	b = appendString(b, p.RequestID)
	if len(p.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, f := range p.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFieldError(b, f)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

func appendFieldError(b []byte, f fault.FieldError) []byte {
	b = append(b, `{"field":`...)
	b = appendString(b, f.Field)
	b = append(b, `,"message":`...)
	b = appendString(b, f.Message)
	return append(b, '}')
}
