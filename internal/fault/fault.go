// Package fault is sessiond's error vocabulary. Every error that reaches a
// client carries one of the stable codes below; anything else is internal and
// is shown to clients only as a generic message with a request id.
package fault

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. The set is fixed by the
// product contract (DESIGN.md, "Errors"); clients switch on it.
type Code string

// The stable codes. Each one's HTTP status and problem title are in the
// table below, the only list of them: the REST API, the admin UI and the
// README's error list (checked by a test) all read it.
const (
	InvalidRequest         Code = "invalid_request"
	Unauthorized           Code = "unauthorized"
	Forbidden              Code = "forbidden"
	NotFound               Code = "not_found"
	Conflict               Code = "conflict"
	MethodNotAllowed       Code = "method_not_allowed"
	UnsupportedMediaType   Code = "unsupported_media_type"
	SessionInvalid         Code = "session_invalid"
	SessionExpiredIdle     Code = "session_expired_idle"
	SessionExpiredAbsolute Code = "session_expired_absolute"
	CSRFMismatch           Code = "csrf_mismatch"
	ReauthRequired         Code = "reauth_required"
	StepUpRequired         Code = "step_up_required"
	BindingMismatch        Code = "binding_mismatch"
	SessionLimitReached    Code = "session_limit_reached"
	VersionConflict        Code = "version_conflict"
	PreconditionRequired   Code = "precondition_required"
	// IdempotencyKeyReused: an Idempotency-Key sent again with another request.
	IdempotencyKeyReused Code = "idempotency_key_reused"
	PayloadTooLarge      Code = "payload_too_large"
	RateLimited          Code = "rate_limited"
	Unavailable          Code = "unavailable"
	Internal             Code = "internal"
)

// meaning is what a code means on the wire.
type meaning struct {
	status int    // the HTTP status
	title  string // the problem+json title
}

// codes is the one table of the stable codes, in the README's order.
var codes = []struct {
	code Code
	meaning
}{
	{InvalidRequest, meaning{http.StatusBadRequest, "Invalid request"}},
	{Unauthorized, meaning{http.StatusUnauthorized, "Unauthorized"}},
	{Forbidden, meaning{http.StatusForbidden, "Forbidden"}},
	{NotFound, meaning{http.StatusNotFound, "Not found"}},
	{MethodNotAllowed, meaning{http.StatusMethodNotAllowed, "Method not allowed"}},
	{Conflict, meaning{http.StatusConflict, "Conflict"}},
	{UnsupportedMediaType, meaning{http.StatusUnsupportedMediaType, "Unsupported media type"}},
	{SessionInvalid, meaning{http.StatusUnauthorized, "Session invalid"}},
	{SessionExpiredIdle, meaning{http.StatusUnauthorized, "Session expired idle"}},
	{SessionExpiredAbsolute, meaning{http.StatusUnauthorized, "Session expired absolute"}},
	{CSRFMismatch, meaning{http.StatusForbidden, "Csrf mismatch"}},
	{ReauthRequired, meaning{http.StatusForbidden, "Reauth required"}},
	{StepUpRequired, meaning{http.StatusForbidden, "Step-up required"}},
	{BindingMismatch, meaning{http.StatusUnauthorized, "Binding mismatch"}},
	{SessionLimitReached, meaning{http.StatusConflict, "Session limit reached"}},
	{VersionConflict, meaning{http.StatusPreconditionFailed, "Version conflict"}},
	{PreconditionRequired, meaning{http.StatusPreconditionRequired, "Precondition required"}},
	{IdempotencyKeyReused, meaning{http.StatusUnprocessableEntity, "Idempotency key reused"}},
	{PayloadTooLarge, meaning{http.StatusRequestEntityTooLarge, "Payload too large"}},
	{RateLimited, meaning{http.StatusTooManyRequests, "Rate limited"}},
	{Unavailable, meaning{http.StatusServiceUnavailable, "Unavailable"}},
	{Internal, meaning{http.StatusInternalServerError, "Internal"}},
}

var byCode = func() map[Code]meaning {
	m := make(map[Code]meaning, len(codes))
	for _, c := range codes {
		m[c.code] = c.meaning
	}
	return m
}()

// Codes returns every stable code, in the table's order.
func Codes() []Code {
	list := make([]Code, len(codes))
	for i, c := range codes {
		list[i] = c.code
	}
	return list
}

// Status is the code's HTTP status; 500 for a code not in the table.
func (c Code) Status() int {
	if m, ok := byCode[c]; ok {
		return m.status
	}
	return http.StatusInternalServerError
}

// Title is the code's problem+json title; Internal's for a code not in
// the table (which is answered as internal).
func (c Code) Title() string {
	if m, ok := byCode[c]; ok {
		return m.title
	}
	return byCode[Internal].title
}

// Type is the code's problem+json type URI.
func (c Code) Type() string { return "urn:sessiond:problem:" + string(c) }

// FieldError names one invalid input field, by JSON name or pointer, and
// says what is wrong with it. It never repeats the value.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a stable code and a message that is safe to show a
// client. Fields lists the invalid inputs of an InvalidRequest.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// StepUp, with StepUpRequired, says what the session lacks.
	StepUp *StepUp
	// Cause is the underlying error, for logs only; it is never sent to a
	// client.
	Cause error
}

// StepUp is what a session lacks for a step-up (the problem's step_up
// member): the assurance level required and the one it has, and the
// methods to prove again (missing or older than allowed).
type StepUp struct {
	AAL     int      `json:"aal"`
	HaveAAL int      `json:"have_aal"`
	Factors []string `json:"factors"`
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error with the given code and client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with the given code that keeps cause for logs.
func Wrap(cause error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// Invalid returns an InvalidRequest error naming one field.
func Invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{
		Code:    InvalidRequest,
		Message: field + ": " + msg,
		Fields:  []FieldError{{Field: field, Message: msg}},
	}
}

// CodeOf returns the code of err, or Internal if err carries none.
func CodeOf(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok { // no allocation, unlike errors.As
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
