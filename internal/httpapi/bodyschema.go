package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
)

// A bodyCheck is an operation's request-body schema compiled, once at
// start-up, into a check of the decoded body. It only says yes or no: a
// body it accepts is one kin-openapi accepts, and the request goes on
// without kin-openapi; any other request is validated by kin-openapi,
// whose errors make the 400 (so error bodies have one source). Nothing of
// the schema is written here: the check is built by walking the document's
// openapi3.Schema, and a schema using any keyword the compiler does not
// know is not compiled at all (that operation keeps kin-openapi alone).
type bodyCheck func(v any) bool

// compileBody compiles the request body of op, when op is one the fast
// path can stand in for: a required application/json body, no path or
// query parameters to check (a request with any of op's header parameters
// goes to kin-openapi), and a schema of known keywords. ok is false
// otherwise. probe is the body operation.loose decodes.
func compileBody(op *openapi3.Operation, item *openapi3.PathItem) (check bodyCheck, probe []byte, headers []string, ok bool) {
	if op.RequestBody == nil || op.RequestBody.Value == nil || !op.RequestBody.Value.Required {
		return nil, nil, nil, false
	}
	content := op.RequestBody.Value.Content
	mt := content.Get("application/json")
	if len(content) != 1 || mt == nil || mt.Schema == nil || len(mt.Encoding) != 0 {
		return nil, nil, nil, false
	}
	for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range params {
			if p.Value == nil || p.Value.In != openapi3.ParameterInHeader {
				return nil, nil, nil, false
			}
			headers = append(headers, http.CanonicalHeaderKey(p.Value.Name))
		}
	}
	if check, ok = compileSchema(mt.Schema); !ok {
		return nil, nil, nil, false
	}
	probe, _ = json.Marshal(probeOf(mt.Schema)) // maps, slices and plain values: no error
	return check, probe, headers, true
}

// compileSchema compiles ref, or reports that it uses a keyword the
// compiler does not know.
func compileSchema(ref *openapi3.SchemaRef) (bodyCheck, bool) {
	if ref == nil || ref.Value == nil {
		return nil, false
	}
	sc := ref.Value
	if !onlyKnownKeywords(sc) || sc.Type == nil || len(*sc.Type) != 1 {
		return nil, false
	}
	if !sc.Type.Is(openapi3.TypeArray) && (sc.Items != nil || sc.MinItems != 0 || sc.MaxItems != nil) {
		return nil, false
	}
	if !sc.Type.Is(openapi3.TypeObject) && (sc.MinProps != 0 || sc.MaxProps != nil) {
		return nil, false
	}
	switch {
	case sc.Type.Is(openapi3.TypeObject):
		return compileObject(sc)
	case sc.Type.Is(openapi3.TypeArray):
		return compileArray(sc)
	case sc.Type.Is(openapi3.TypeString):
		return compileString(sc)
	case sc.Type.Is(openapi3.TypeInteger), sc.Type.Is(openapi3.TypeNumber):
		return compileNumber(sc)
	case sc.Type.Is(openapi3.TypeBoolean):
		if sc.Min != nil || sc.Max != nil || sc.MaxLength != nil || sc.MinLength != 0 || sc.Pattern != "" {
			return nil, false
		}
		return func(v any) bool { _, ok := v.(bool); return ok }, true
	}
	return nil, false
}

// onlyKnownKeywords reports whether sc uses no keyword but the ones the
// compiler implements (type, properties, required, additionalProperties,
// minProperties, maxProperties, items, minItems, maxItems, minLength,
// maxLength, pattern, minimum, maximum, enum of strings) and annotations. Any other keyword, now or added to kin-openapi later,
// leaves the schema to kin-openapi.
func onlyKnownKeywords(sc *openapi3.Schema) bool {
	c := *sc
	c.Extensions, c.Origin, c.Title, c.Description, c.Example, c.ExternalDocs, c.Deprecated = nil, nil, "", "", nil, nil, false
	c.Type, c.Properties, c.Required, c.AdditionalProperties = nil, nil, nil, openapi3.AdditionalProperties{}
	c.MinLength, c.MaxLength, c.Pattern, c.Min, c.Max = 0, nil, "", nil, nil
	c.Items, c.MinItems, c.MaxItems, c.MinProps, c.MaxProps = nil, 0, nil, 0, nil
	for _, e := range c.Enum {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	c.Enum = nil
	return reflect.ValueOf(c).IsZero()
}

func compileObject(sc *openapi3.Schema) (bodyCheck, bool) {
	if sc.MinLength != 0 || sc.MaxLength != nil || sc.Pattern != "" || sc.Min != nil || sc.Max != nil || sc.Enum != nil {
		return nil, false
	}
	props := make(map[string]bodyCheck, len(sc.Properties))
	for name, p := range sc.Properties {
		check, ok := compileSchema(p)
		if !ok {
			return nil, false
		}
		props[name] = check
	}
	closed := false
	var others bodyCheck // additionalProperties' schema
	switch ap := sc.AdditionalProperties; {
	case ap.Has != nil && !*ap.Has:
		closed = true
	case ap.Schema != nil:
		var ok bool
		if others, ok = compileSchema(ap.Schema); !ok {
			return nil, false
		}
	}
	required := sc.Required
	minProps, maxProps := sc.MinProps, uint64(math.MaxUint64)
	if sc.MaxProps != nil {
		maxProps = *sc.MaxProps
	}
	return func(v any) bool {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if n := uint64(len(m)); n < minProps || n > maxProps {
			return false
		}
		for _, name := range required {
			if _, ok := m[name]; !ok {
				return false
			}
		}
		for name, x := range m {
			check, ok := props[name]
			if !ok {
				if closed {
					return false
				}
				if others == nil {
					continue
				}
				check = others
			}
			if !check(x) {
				return false
			}
		}
		return true
	}, true
}

func compileArray(sc *openapi3.Schema) (bodyCheck, bool) {
	if sc.MinLength != 0 || sc.MaxLength != nil || sc.Pattern != "" || sc.Min != nil || sc.Max != nil || sc.Enum != nil {
		return nil, false
	}
	item, ok := compileSchema(sc.Items)
	if !ok {
		return nil, false
	}
	minItems, maxItems := sc.MinItems, uint64(math.MaxUint64)
	if sc.MaxItems != nil {
		maxItems = *sc.MaxItems
	}
	return func(v any) bool {
		a, ok := v.([]any)
		if !ok {
			return false
		}
		if n := uint64(len(a)); n < minItems || n > maxItems {
			return false
		}
		for _, x := range a {
			if !item(x) {
				return false
			}
		}
		return true
	}, true
}

func compileString(sc *openapi3.Schema) (bodyCheck, bool) {
	if sc.Min != nil || sc.Max != nil {
		return nil, false
	}
	var re *regexp.Regexp
	if sc.Pattern != "" {
		if strings.Contains(sc.Pattern, `\u`) {
			return nil, false // kin-openapi rewrites \uXXXX first
		}
		var err error
		if re, err = regexp.Compile(sc.Pattern); err != nil {
			return nil, false
		}
	}
	minLen, maxLen := int64(sc.MinLength), int64(-1)
	if sc.MaxLength != nil {
		maxLen = int64(*sc.MaxLength)
	}
	enum := map[string]bool{}
	for _, e := range sc.Enum {
		enum[e.(string)] = true
	}
	return func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		if len(enum) > 0 && !enum[s] {
			return false
		}
		if minLen != 0 || maxLen >= 0 {
			n := stringLength(s)
			if n < minLen || (maxLen >= 0 && n > maxLen) {
				return false
			}
		}
		return re == nil || re.MatchString(s)
	}, true
}

// stringLength counts s as kin-openapi does (UTF-16 units of its runes).
func stringLength(s string) int64 {
	n := int64(0)
	for _, r := range s {
		if utf16.IsSurrogate(r) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func compileNumber(sc *openapi3.Schema) (bodyCheck, bool) {
	if sc.MinLength != 0 || sc.MaxLength != nil || sc.Pattern != "" || sc.Enum != nil {
		return nil, false
	}
	integer := sc.Type.Is(openapi3.TypeInteger)
	lo, hi := math.Inf(-1), math.Inf(1)
	if sc.Min != nil {
		lo = *sc.Min
	}
	if sc.Max != nil {
		hi = *sc.Max
	}
	return func(v any) bool {
		var f float64
		switch n := v.(type) {
		case float64: // from json.Unmarshal: the strconv.ParseFloat of json.Number.Float64
			f = n
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return false
			}
		default:
			return false
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return false
		}
		if integer && f != math.Trunc(f) {
			return false
		}
		return f >= lo && f <= hi
	}, true
}

// accepts reports whether the fast path may let r through without
// kin-openapi: its body, decoded as kin-openapi decodes it, passes the
// compiled check, and the request carries nothing else to validate.
func (op *operation) accepts(r *http.Request, body []byte) bool {
	if op.body == nil || len(body) == 0 || r.URL.RawQuery != "" {
		return false
	}
	if ct := r.Header["Content-Type"]; len(ct) != 1 || ct[0] != "application/json" {
		return false
	}
	for _, h := range op.headers {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	// kin-openapi decodes the body's first JSON value, numbers as
	// json.Number. When the body is that value alone and its numbers fit a
	// float64, json.Unmarshal gives the same tree, numbers as the float64s
	// compileNumber would parse, without a json.Decoder and its buffer; for
	// any other body it fails, and the body is decoded as kin-openapi does.
	var v any
	if json.Unmarshal(body, &v) != nil {
		v = nil
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return false
		}
	}
	return op.body(v)
}

// loose reports whether v (a pointer), decoded from a body op's compiled
// check accepted, needs no DisallowUnknownFields: whether every object key
// the check lets through lands in a field of v's type, or in a map, an
// `any` or a json.Unmarshaler. encoding/json answers, once per type: op's
// probe (probeOf) must decode strictly into a v.
func (op *operation) loose(v any) bool {
	t := reflect.TypeOf(v)
	if ok, found := op.looseFor.Load(t); found {
		return ok.(bool)
	}
	ok := t.Kind() == reflect.Pointer && decodeStrict(op.probe, reflect.New(t.Elem()).Interface()) == nil
	op.looseFor.Store(t, ok)
	return ok
}

// probeOf is a body with every object key the compiled check of ref lets
// through: each property it names and, in an object open to other keys,
// "\x00", which no struct field has (encoding/json refuses it in a tag),
// holding the probe of additionalProperties' schema, or anyValue when any
// value goes. Everything else is null, which any Go type takes.
func probeOf(ref *openapi3.SchemaRef) any {
	sc := ref.Value
	switch {
	case sc.Type.Is(openapi3.TypeObject):
		m := make(map[string]any, len(sc.Properties)+1)
		for name, p := range sc.Properties {
			m[name] = probeOf(p)
		}
		switch ap := sc.AdditionalProperties; {
		case ap.Has != nil && !*ap.Has: // closed
		case ap.Schema != nil:
			m["\x00"] = probeOf(ap.Schema)
		default:
			m["\x00"] = anyValue
		}
		return m
	case sc.Type.Is(openapi3.TypeArray):
		return []any{probeOf(sc.Items)}
	}
	return nil
}

// anyValue decodes strictly only into a Go type that takes any JSON value
// and has no struct to refuse a key (an `any`, a json.Unmarshaler, a slice
// of them): an object with a key no field has, an array, a number, a
// string and a boolean, side by side.
var anyValue = []any{map[string]any{"\x00": nil}, []any{}, 0, "", true}
