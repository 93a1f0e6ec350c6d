// Package fault is sessiond's error vocabulary. Every error that reaches a
// client carries one of the stable codes below; anything else is internal and
// is shown to clients only as a generic message with a request id.
package fault

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. The set is fixed by the
// product contract (DESIGN.md, "Errors"); clients switch on it.
type Code string

// The stable codes. Their HTTP statuses are mapped in one table, in the HTTP
// adapter.
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
	// Cause is the underlying error, for logs only; it is never sent to a
	// client.
	Cause error
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
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
