package httpapi

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonIn reads the JSON of a request body for the compiled body checks
// (bodycheck.go). It is deliberately narrow: every method accepts only
// well-formed input of the one shape asked for and answers false on
// anything else (null, a number with a fraction or an exponent, a lone
// surrogate escape, ...), leaving the body to the general path, which
// decides and explains. It never allocates except for the strings it
// returns.
type jsonIn struct {
	b []byte
	i int
}

// ws skips JSON whitespace.
func (d *jsonIn) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (d *jsonIn) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// object reads an object, calling member for each of its members with the
// member's name (valid only during the call) once the reader stands on the
// member's value; member must read the value. Names with escapes are
// refused (no property of the document needs one).
func (d *jsonIn) object(member func(name []byte) bool) bool {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return false
		}
		start := d.i + 1
		j := start
		for j < len(d.b) && d.b[j] != '"' && d.b[j] != '\\' && d.b[j] >= 0x20 {
			j++
		}
		if j >= len(d.b) || d.b[j] != '"' {
			return false
		}
		name := d.b[start:j]
		d.i = j + 1
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		d.ws()
		if !member(name) {
			return false
		}
		d.ws()
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string, decoding its escapes.
func (d *jsonIn) str() (string, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	j := start
	for j < len(d.b) {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return string(d.b[start:j]), true
		}
		if c == '\\' {
			return d.escapedStr(start)
		}
		if c < 0x20 {
			return "", false
		}
		j++
	}
	return "", false
}

// escapedStr reads the string that starts at start and holds an escape.
func (d *jsonIn) escapedStr(start int) (string, bool) {
	out := make([]byte, 0, 64)
	j := start
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(d.b) {
			return "", false
		}
		switch e := d.b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(d.b, j+2)
			if !ok {
				return "", false
			}
			j += 6
			if utf16.IsSurrogate(r) {
				// Only a well-formed pair; encoding/json would turn a lone
				// half into U+FFFD, the general path's business.
				if j+1 >= len(d.b) || d.b[j] != '\\' || d.b[j+1] != 'u' {
					return "", false
				}
				r2, ok := hex4(d.b, j+2)
				if !ok {
					return "", false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", false
				}
				j += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// smallInt reads a non-negative integer of at most 9 digits, written
// without a sign, fraction or exponent.
func (d *jsonIn) smallInt() (int, bool) {
	j, n := d.i, 0
	for j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9' {
		n = n*10 + int(d.b[j]-'0')
		j++
	}
	digits := j - d.i
	if digits == 0 || digits > 9 || (digits > 1 && d.b[d.i] == '0') {
		return 0, false
	}
	if j < len(d.b) {
		switch d.b[j] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	d.i = j
	return n, true
}

// boolean reads true or false.
func (d *jsonIn) boolean() (v, ok bool) {
	rest := d.b[d.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.i += 5
		return false, true
	}
	return false, false
}

// rawObject reads any well-formed object and returns its bytes as they
// are in the body (what encoding/json puts in a json.RawMessage).
func (d *jsonIn) rawObject() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	end, ok := skipValue(d.b, d.i)
	if !ok || !json.Valid(d.b[d.i:end]) {
		return nil, false
	}
	raw := d.b[d.i:end]
	d.i = end
	return raw, true
}

// skipValue returns where the object or array that starts at i ends. It
// only balances brackets outside strings: json.Valid judges the rest.
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return 0, false
}
