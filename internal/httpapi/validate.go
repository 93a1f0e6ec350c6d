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
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

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

// validator checks requests against the OpenAPI document.
type validator struct {
	router  routers.Router
	options *openapi3filter.Options
}

func newValidator(doc *openapi3.T) (*validator, error) {
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &validator{
		router: router,
		options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}, nil
}

// readBody reads the request body under the size limit and leaves it
// readable again. It answers 413 when the body is too large and 415 when a
// body is not JSON.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.New(fault.PayloadTooLarge, "request body exceeds %d bytes", limit)
		}
		return fault.Wrap(err, fault.InvalidRequest, "request body could not be read")
	}
	if len(data) > 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
			return fault.New(fault.UnsupportedMediaType, "request body must be application/json")
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data))
	return nil
}

// validate checks r against its operation in the document. Messages name
// the offending field or parameter and never repeat its value.
func (v *validator) validate(r *http.Request) error {
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		return fault.New(fault.NotFound, "no such endpoint")
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: v.options}
	err = openapi3filter.ValidateRequest(r.Context(), in)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err == nil {
		return nil
	}
	return translateValidation(err)
}

func translateValidation(err error) error {
	var fields []fault.FieldError
	var collect func(error)
	collect = func(err error) {
		var multi openapi3.MultiError
		if errors.As(err, &multi) {
			for _, e := range multi {
				collect(e)
			}
			return
		}
		var reqErr *openapi3filter.RequestError
		var schemaErr *openapi3.SchemaError
		var parseErr *openapi3filter.ParseError
		switch {
		case errors.As(err, &schemaErr):
			field := strings.Join(schemaErr.JSONPointer(), ".")
			prefix := ""
			if errors.As(err, &reqErr) && reqErr.Parameter != nil {
				prefix = reqErr.Parameter.Name
				if field != "" {
					prefix += "."
				}
			}
			fields = append(fields, fault.FieldError{Field: nonEmpty(prefix+field, "body"), Message: schemaReason(schemaErr)})
		case errors.As(err, &parseErr):
			name := "body"
			if errors.As(err, &reqErr) && reqErr.Parameter != nil {
				name = reqErr.Parameter.Name
			}
			fields = append(fields, fault.FieldError{Field: name, Message: "is malformed: " + parseReason(parseErr)})
		case errors.As(err, &reqErr):
			name := "body"
			if reqErr.Parameter != nil {
				name = reqErr.Parameter.Name
			}
			msg := reqErr.Reason
			if msg == "" && reqErr.Err != nil {
				msg = reqErr.Err.Error()
			}
			fields = append(fields, fault.FieldError{Field: name, Message: msg})
		default:
			fields = append(fields, fault.FieldError{Field: "request", Message: "is invalid"})
		}
	}
	collect(err)
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	msg := fields[0].Field + ": " + fields[0].Message
	if len(fields) > 1 {
		msg = fmt.Sprintf("%s (and %d more)", msg, len(fields)-1)
	}
	return &fault.Error{Code: fault.InvalidRequest, Message: msg, Fields: fields, Cause: err}
}

// schemaReason describes a schema failure without the offending value.
func schemaReason(e *openapi3.SchemaError) string {
	switch e.SchemaField {
	case "additionalProperties":
		return "unknown field: " + e.Reason
	case "required":
		return e.Reason
	}
	if strings.Contains(e.Reason, "\"") && e.SchemaField == "enum" {
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

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// decodeJSON decodes a validated body strictly into v.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
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
