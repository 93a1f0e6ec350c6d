package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Compiled body checks: the hot session routes (create, verify,
// regenerate, revoke) check and decode their JSON body in one pass of
// hand-written code instead of kin-openapi's validator (which decodes the
// body into maps and walks the schema) followed by encoding/json.
//
// A check only ever accepts. It accepts a body when it is sure that the
// OpenAPI validator accepts it and that decodeJSON decodes it to the same
// value; anything else (an error, but also anything merely unusual: null,
// 1.0, duplicate names, invalid UTF-8, a charset it does not know) goes the
// general way, through the OpenAPI validator and decodeJSON, which decide
// and explain. So a refusal is always the validator's own, with its status,
// code and errors, and TestCompiledChecksAgreeWithTheOpenAPIValidator
// proves on a corpus (and FuzzCompiledChecks on anything) that whatever a
// check accepts, the validator accepts and decodeJSON decodes alike.
//
// Each check states the request body schema it implements (schema, in the
// canonical form schemaShape writes); New refuses to start if
// api/openapi.yaml says anything else, so the document and the code cannot
// drift apart.
type bodyCheck[T any] struct {
	op     string // the operationId in api/openapi.yaml
	schema string
	decode func(d *jsonIn, v *T) bool
}

// accept reports whether body, sent with r's Content-Type, is valid for the
// operation, and decodes it into v. False means "not sure".
func (c bodyCheck[T]) accept(r *http.Request, body []byte, v *T) bool {
	if !plainJSON(r.Header) || len(body) == 0 || !utf8.Valid(body) {
		return false
	}
	d := jsonIn{b: body}
	return c.decode(&d, v) && d.end()
}

// plainJSON reports whether the request's Content-Type is one of the usual
// spellings of JSON. Others may well be JSON too; the general path judges.
func plainJSON(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) != 1 {
		return false
	}
	switch ct[0] {
	case "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8",
		"application/json; charset=UTF-8", "application/json;charset=UTF-8":
		return true
	}
	return false
}

// seen guards against a name given twice (the validator's decoder keeps
// the last one; a check does not guess).
type seen uint8

func (s *seen) first(bit seen) bool {
	if *s&bit != 0 {
		return false
	}
	*s |= bit
	return true
}

// maxLen reports whether s has at most n characters, counted the way the
// validator counts them (runes of valid UTF-8).
func maxLen(s string, n int) bool {
	return len(s) <= n || utf8.RuneCountInString(s) <= n
}

// validUserID is the UserID schema: 1 to 128 of letters, digits and
// . _ @ + | = -, not only dots.
func validUserID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	onlyDots := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '@', c == '+', c == '|', c == '=', c == '-':
			onlyDots = false
		default:
			return false
		}
	}
	return !onlyDots
}

// deviceIn decodes a DeviceIn object.
func deviceIn(d *jsonIn, dev *sessions.Device) bool {
	var got seen
	return d.object(func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "user_agent":
			if !got.first(1) {
				return false
			}
			dev.UserAgent, ok = d.str()
			return ok && maxLen(dev.UserAgent, 1024)
		case "ip":
			if !got.first(2) {
				return false
			}
			dev.IP, ok = d.str()
			return ok && maxLen(dev.IP, 45)
		}
		return false
	})
}

// timeout decodes an idle_timeout or absolute_timeout of SessionCreate.
func timeout(d *jsonIn, v **int) bool {
	n, ok := d.smallInt()
	if !ok || n < 1 || n > 34560000 {
		return false
	}
	*v = &n
	return true
}

var createCheck = bodyCheck[sessionCreateRequest]{
	op:     "createSession",
	schema: `{"additionalProperties":false,"properties":{"absolute_timeout":{"maximum":34560000,"minimum":1,"type":"integer"},"data":{"type":"object"},"device":{"additionalProperties":false,"properties":{"ip":{"maxLength":45,"type":"string"},"user_agent":{"maxLength":1024,"type":"string"}},"type":"object"},"idle_timeout":{"maximum":34560000,"minimum":1,"type":"integer"},"user_id":{"maxLength":128,"minLength":1,"pattern":"^[A-Za-z0-9._@+|=-]*[A-Za-z0-9_@+|=-][A-Za-z0-9._@+|=-]*$","type":"string"}},"type":"object"}`,
	decode: func(d *jsonIn, v *sessionCreateRequest) bool {
		var got seen
		return d.object(func(name []byte) bool {
			var ok bool
			switch string(name) {
			case "user_id":
				if !got.first(1) {
					return false
				}
				v.UserID, ok = d.str()
				return ok && validUserID(v.UserID)
			case "data":
				if !got.first(2) {
					return false
				}
				v.Data, ok = d.rawObject()
				return ok
			case "device":
				return got.first(4) && deviceIn(d, &v.Device)
			case "idle_timeout":
				return got.first(8) && timeout(d, &v.IdleTimeout)
			case "absolute_timeout":
				return got.first(16) && timeout(d, &v.AbsoluteTimeout)
			}
			return false
		})
	},
}

var verifyCheck = bodyCheck[sessionVerifyRequest]{
	op:     "verifySession",
	schema: `{"additionalProperties":false,"properties":{"csrf_token":{"maxLength":512,"type":"string"},"device":{"additionalProperties":false,"properties":{"ip":{"maxLength":45,"type":"string"},"user_agent":{"maxLength":1024,"type":"string"}},"type":"object"},"max_auth_age":{"maximum":34560000,"minimum":0,"type":"integer"},"token":{"type":"string"}},"required":["token"],"type":"object"}`,
	decode: func(d *jsonIn, v *sessionVerifyRequest) bool {
		var got seen
		ok := d.object(func(name []byte) bool {
			switch string(name) {
			case "token":
				if !got.first(1) {
					return false
				}
				var ok bool
				v.Token, ok = d.str()
				return ok
			case "csrf_token":
				if !got.first(2) {
					return false
				}
				csrf, ok := d.str()
				v.CSRFToken = &csrf
				return ok && maxLen(csrf, 512)
			case "max_auth_age":
				if !got.first(4) {
					return false
				}
				n, ok := d.smallInt()
				v.MaxAuthAge = &n
				return ok && n <= 34560000
			case "device":
				if !got.first(8) {
					return false
				}
				v.Device = new(sessions.Device)
				return deviceIn(d, v.Device)
			}
			return false
		})
		return ok && got&1 != 0
	},
}

var regenerateCheck = bodyCheck[sessionRegenerateRequest]{
	op:     "regenerateSession",
	schema: `{"additionalProperties":false,"properties":{"reauthenticated":{"type":"boolean"},"token":{"type":"string"},"user_id":{"maxLength":128,"minLength":1,"pattern":"^[A-Za-z0-9._@+|=-]*[A-Za-z0-9_@+|=-][A-Za-z0-9._@+|=-]*$","type":"string"}},"required":["token"],"type":"object"}`,
	decode: func(d *jsonIn, v *sessionRegenerateRequest) bool {
		var got seen
		ok := d.object(func(name []byte) bool {
			var ok bool
			switch string(name) {
			case "token":
				if !got.first(1) {
					return false
				}
				v.Token, ok = d.str()
				return ok
			case "user_id":
				if !got.first(2) {
					return false
				}
				var id string
				id, ok = d.str()
				v.UserID = &id
				return ok && validUserID(id)
			case "reauthenticated":
				if !got.first(4) {
					return false
				}
				v.Reauthenticated, ok = d.boolean()
				return ok
			}
			return false
		})
		return ok && got&1 != 0
	},
}

var revokeCheck = bodyCheck[sessionRevokeRequest]{
	op:     "revokeSessionByToken",
	schema: `{"additionalProperties":false,"properties":{"token":{"type":"string"}},"required":["token"],"type":"object"}`,
	decode: func(d *jsonIn, v *sessionRevokeRequest) bool {
		var got seen
		ok := d.object(func(name []byte) bool {
			if string(name) != "token" || !got.first(1) {
				return false
			}
			var ok bool
			v.Token, ok = d.str()
			return ok
		})
		return ok && got&1 != 0
	},
}

// checkAgainst returns an error unless the operation c.op of doc takes
// exactly the body c was written for: a required application/json body of
// schema c.schema, and no parameters.
func (c bodyCheck[T]) checkAgainst(doc *openapi3.T) error {
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.OperationID != c.op {
				continue
			}
			if len(item.Parameters) > 0 || len(op.Parameters) > 0 {
				return fmt.Errorf("compiled check of %s: the operation now has parameters", c.op)
			}
			body := op.RequestBody
			if body == nil || body.Value == nil || !body.Value.Required || len(body.Value.Content) != 1 || body.Value.Content["application/json"] == nil {
				return fmt.Errorf("compiled check of %s: the request body is no longer one required application/json body", c.op)
			}
			got, err := schemaShape(body.Value.Content["application/json"].Schema)
			if err != nil {
				return fmt.Errorf("compiled check of %s: %w", c.op, err)
			}
			if got != c.schema {
				return fmt.Errorf("compiled check of %s is out of date with api/openapi.yaml: it implements\n%s\nbut the document now says\n%s", c.op, c.schema, got)
			}
			return nil
		}
	}
	return fmt.Errorf("compiled check of %s: no such operation in api/openapi.yaml", c.op)
}

// schemaShape writes what a schema validates, references resolved and
// documentation (description, example, title, ...) left out, as canonical
// JSON with sorted keys.
func schemaShape(ref *openapi3.SchemaRef) (string, error) {
	v, err := shapeOf(ref)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func shapeOf(ref *openapi3.SchemaRef) (any, error) {
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("unresolved schema %q", refName(ref))
	}
	b, err := json.Marshal(ref.Value)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, doc := range []string{"description", "example", "examples", "title", "externalDocs", "deprecated", "$comment", "xml"} {
		delete(m, doc)
	}
	sc := ref.Value
	if len(sc.Properties) > 0 {
		props := map[string]any{}
		for name, p := range sc.Properties {
			if props[name], err = shapeOf(p); err != nil {
				return nil, err
			}
		}
		m["properties"] = props
	}
	if sc.Items != nil {
		if m["items"], err = shapeOf(sc.Items); err != nil {
			return nil, err
		}
	}
	if sc.AdditionalProperties.Schema != nil {
		if m["additionalProperties"], err = shapeOf(sc.AdditionalProperties.Schema); err != nil {
			return nil, err
		}
	}
	if sc.Not != nil {
		if m["not"], err = shapeOf(sc.Not); err != nil {
			return nil, err
		}
	}
	for key, list := range map[string]openapi3.SchemaRefs{"oneOf": sc.OneOf, "anyOf": sc.AnyOf, "allOf": sc.AllOf} {
		if len(list) == 0 {
			continue
		}
		shapes := make([]any, len(list))
		for i, x := range list {
			if shapes[i], err = shapeOf(x); err != nil {
				return nil, err
			}
		}
		m[key] = shapes
	}
	return m, nil
}

func refName(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	return ref.Ref
}
