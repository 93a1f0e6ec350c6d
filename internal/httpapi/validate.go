package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sessiond/sessiond/api"
	"github.com/sessiond/sessiond/internal/fault"
)

// LoadSpec parses and validates the embedded OpenAPI document.
func LoadSpec() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	// Relative servers would make the router match on Host; match any host.
	doc.Servers = nil
	return doc, nil
}

// maxItems is the maxItems of the array property prop of the document's
// schema name; an error if the document does not bound it.
func maxItems(doc *openapi3.T, name, prop string) (int, error) {
	if ref := doc.Components.Schemas[name]; ref != nil && ref.Value != nil {
		if p := ref.Value.Properties[prop]; p != nil && p.Value != nil && p.Value.MaxItems != nil {
			return int(*p.Value.MaxItems), nil
		}
	}
	return 0, fmt.Errorf("openapi: api/openapi.yaml does not bound %s.%s (maxItems)", name, prop)
}

// validator checks requests against the OpenAPI document.
type validator struct {
	doc     *openapi3.T
	options *openapi3filter.Options
	// names are the property names the document defines: the only ones a
	// field path in an error may repeat (a client's own keys never are).
	names map[string]bool
}

func newValidator(doc *openapi3.T) (*validator, error) {
	return &validator{
		doc: doc,
		options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
		names: propertyNames(doc),
	}, nil
}

// operation is one route's operation in the document, found once when the
// route is registered, so that a request is never routed a second time.
type operation struct {
	route      *routers.Route
	query      map[string]bool // the query parameters it takes
	pathParams []string        // the names of its path parameters
	// body is the request body's schema compiled (bodyschema.go), nil
	// when the operation is left to kin-openapi alone; headers are the
	// header parameters whose presence sends a request to kin-openapi.
	body    bodyCheck
	headers []string
	// probe is the body loose decodes (bodyschema.go); looseFor keeps
	// loose's answers by type.
	probe    []byte
	looseFor sync.Map
}

// operation finds the document's operation of method and path (a path
// template of the document); an error if the document has none.
func (v *validator) operation(method, path string) (*operation, error) {
	item := v.doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		return nil, fmt.Errorf("openapi: api/openapi.yaml does not describe %s %s", method, path)
	}
	// The route's security is checked before validation (authenticate):
	// the validator's copy of the operation requires none.
	op := *item.GetOperation(method)
	op.Security = &openapi3.SecurityRequirements{}
	query := map[string]bool{}
	var pathParams []string
	for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range params {
			switch {
			case p.Value == nil:
			case p.Value.In == openapi3.ParameterInQuery:
				query[p.Value.Name] = true
			case p.Value.In == openapi3.ParameterInPath:
				pathParams = append(pathParams, p.Value.Name)
			}
		}
	}
	route := &routers.Route{Spec: v.doc, Path: path, PathItem: item, Method: method, Operation: &op}
	body, probe, headers, _ := compileBody(&op, item)
	return &operation{route: route, query: query, pathParams: pathParams, body: body, headers: headers, probe: probe}, nil
}

// propertyNames collects every property name of every schema in doc.
func propertyNames(doc *openapi3.T) map[string]bool {
	names := map[string]bool{}
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		sc := ref.Value
		seen[sc] = true
		for name, p := range sc.Properties {
			names[name] = true
			walk(p)
		}
		walk(sc.Items)
		walk(sc.AdditionalProperties.Schema)
		walk(sc.Not)
		for _, list := range []openapi3.SchemaRefs{sc.OneOf, sc.AnyOf, sc.AllOf} {
			for _, x := range list {
				walk(x)
			}
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			for _, p := range op.Parameters {
				if p.Value != nil {
					walk(p.Value.Schema)
				}
			}
		}
	}
	return names
}

// readBody reads the request body, once, under the size limit; nil means
// the request has none. It answers 413 when the body is too large and 415
// when a body is not JSON.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var data []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= limit {
		// A length announced within the limit (net/http's body ends there):
		// one slice of that size, not io.ReadAll's growing ones.
		data = make([]byte, n)
		_, err = io.ReadFull(r.Body, data)
	} else {
		data, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fault.New(fault.PayloadTooLarge, "request body exceeds %d bytes", limit)
		}
		return nil, fault.Wrap(err, fault.InvalidRequest, "request body could not be read")
	}
	if ct := r.Header.Get("Content-Type"); len(data) > 0 && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
			return nil, fault.New(fault.UnsupportedMediaType, "request body must be application/json")
		}
	}
	return data, nil
}

// validate checks r, whose body is body, against its operation op;
// checked reports that the body passed op's compiled check, without
// kin-openapi. Errors name the offending body field or parameter (see
// translate) and never repeat its value.
func (v *validator) validate(r *http.Request, op *operation, body []byte) (checked bool, err error) {
	if r.URL.RawQuery != "" {
		if err := unknownQuery(r, op); err != nil {
			return false, err
		}
	}
	if op.accepts(r, body) {
		return true, nil
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body)) // for kin-openapi, which reads it
	}
	path := make(map[string]string, len(op.pathParams))
	for _, name := range op.pathParams {
		path[name] = r.PathValue(name)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: path, Route: op.route, Options: v.options}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return false, v.translate(err)
	}
	return false, nil
}

// unknownQuery refuses the query parameters op does not take, naming each
// (cut to 64 bytes) as "query.<name>".
func unknownQuery(r *http.Request, op *operation) error {
	var fields []fault.FieldError
	for name := range r.URL.Query() {
		if !op.query[name] {
			if len(name) > 64 {
				name = name[:64]
			}
			fields = append(fields, fault.FieldError{Field: "query." + strings.ToValidUTF8(name, "\uFFFD"), Message: "unknown query parameter"})
		}
	}
	if fields == nil {
		return nil
	}
	return invalid(fields, nil)
}

// translate turns the validator's errors into one InvalidRequest whose
// fields name what is wrong, the way api/openapi.yaml documents
// (components.schemas.Problem): a body field by its path ("device.ip",
// "body" for the whole body), a parameter by where it is and its name
// ("path.session_id", "query.limit", "header.If-Match"). Messages never
// repeat a value, and paths never repeat a property name the client made
// up: an unknown property is "unknown property" on the object holding it.
func (v *validator) translate(err error) error {
	var fields []fault.FieldError
	add := func(field, msg string) { fields = append(fields, fault.FieldError{Field: field, Message: msg}) }
	var collect func(err error, where string)
	collect = func(err error, where string) {
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, x := range e {
				collect(x, where)
			}
			return
		case *openapi3filter.RequestError:
			if e.Parameter != nil {
				where = e.Parameter.In + "." + e.Parameter.Name
			}
			if e.Err != nil {
				collect(e.Err, where)
				return
			}
			add(where, "is invalid")
			return
		}
		var schemaErr *openapi3.SchemaError
		var parseErr *openapi3filter.ParseError
		switch {
		case errors.As(err, &schemaErr):
			add(v.fieldPath(where, schemaErr.JSONPointer()), schemaReason(schemaErr))
		case errors.As(err, &parseErr):
			add(where, "is malformed: "+parseReason(parseErr))
		case errors.Is(err, openapi3filter.ErrInvalidRequired):
			add(where, "is required")
		case errors.Is(err, openapi3filter.ErrInvalidEmptyValue):
			add(where, "must not be empty")
		default:
			add(where, "is invalid")
		}
	}
	collect(err, "body")
	return invalid(fields, err)
}

// invalid is the InvalidRequest of fields, sorted by field, its message the
// first one's.
func invalid(fields []fault.FieldError, cause error) error {
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	msg := fields[0].Field + ": " + fields[0].Message
	if len(fields) > 1 {
		msg = fmt.Sprintf("%s (and %d more)", msg, len(fields)-1)
	}
	return &fault.Error{Code: fault.InvalidRequest, Message: msg, Fields: fields, Cause: cause}
}

// fieldPath joins a JSON pointer inside where: body fields stand alone
// ("device.ip"), parameter parts follow the parameter. A segment that is
// neither a property the document defines nor an array index is "*".
func (v *validator) fieldPath(where string, pointer []string) string {
	parts := make([]string, 0, len(pointer)+1)
	if where != "body" || len(pointer) == 0 {
		parts = append(parts, where)
	}
	for _, seg := range pointer {
		if _, err := strconv.Atoi(seg); err != nil && !v.names[seg] {
			seg = "*"
		}
		parts = append(parts, seg)
	}
	return strings.Join(parts, ".")
}

// schemaReason describes a schema failure without the offending value or
// a property name the client chose.
func schemaReason(e *openapi3.SchemaError) string {
	switch {
	case e.SchemaField == "properties" && strings.HasSuffix(e.Reason, "is unsupported"),
		e.SchemaField == "additionalProperties":
		return "unknown property"
	case e.SchemaField == "enum":
		return "is not one of the allowed values"
	}
	return e.Reason
}

func parseReason(e *openapi3filter.ParseError) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(e, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(e, &typ):
		return "wrong JSON type"
	case e.Kind == openapi3filter.KindInvalidFormat:
		return "invalid format"
	}
	return "cannot be parsed"
}

// decodeJSON decodes r's validated body strictly into v (a pointer): no
// unknown field, one JSON value.
func decodeJSON(r *http.Request, v any) error {
	c := callOf(r)
	// json.Unmarshal, without a json.Decoder and its buffer, stands in for
	// the strict decoder when its DisallowUnknownFields has nothing left to
	// refuse (operation.loose). When Unmarshal fails, it failed before
	// filling v (not one JSON value alone) or with the error the strict
	// decoder meets too: the strict decoder answers, as always.
	if c.checked && c.op.loose(v) && json.Unmarshal(c.body, v) == nil {
		return nil
	}
	return decodeStrict(c.body, v)
}

// decodeStrict decodes body into v: one JSON value, no unknown field.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fault.Invalid("body", "is required")
		}
		return fault.Wrap(err, fault.InvalidRequest, "body: does not match the expected JSON shape")
	}
	if dec.More() {
		return fault.Invalid("body", "must hold one JSON value")
	}
	return nil
}
