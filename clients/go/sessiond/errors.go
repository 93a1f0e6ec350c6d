package sessiond

import (
	"errors"
	"net/http"
	"time"
)

// Problem codes the clients act on (api/openapi.yaml, Problem.code).
const (
	CodeInvalidRequest         = "invalid_request"
	CodeUnauthorized           = "unauthorized" // the API key is bad or revoked: the app is broken, not the session
	CodeForbidden              = "forbidden"
	CodeNotFound               = "not_found"
	CodeSessionInvalid         = "session_invalid"
	CodeSessionExpiredIdle     = "session_expired_idle"
	CodeSessionExpiredAbsolute = "session_expired_absolute"
	CodeBindingMismatch        = "binding_mismatch"
	CodeCSRFMismatch           = "csrf_mismatch"
	CodeReauthRequired         = "reauth_required"
	CodeStepUpRequired         = "step_up_required" // Error.StepUp says what to prove
	CodeSessionLimitReached    = "session_limit_reached"
	CodeVersionConflict        = "version_conflict"
	CodePayloadTooLarge        = "payload_too_large"
	CodeRateLimited            = "rate_limited"
	CodeUnavailable            = "unavailable" // also network errors and timeouts
	CodeInternal               = "internal"
)

// Error is every failure of a sessiond call. A network error or timeout has
// Code CodeUnavailable and HTTPStatus 0.
type Error struct {
	Code       string        // the problem code; switch on it
	HTTPStatus int           // sessiond's status; 0 when no answer arrived
	Detail     string        // what went wrong (never a token)
	RetryAfter time.Duration // from Retry-After, when given
	RequestID  string        // sessiond's request id, for its logs
	Err        error         // the underlying error, if any
	// StepUp is what the session lacks, with CodeStepUpRequired (else nil).
	StepUp *StepUp
}

// StepUp is what a session lacks for a step-up (the problem's step_up
// member): the assurance level required and the session's, and the methods
// to prove again (missing, or older than max_factor_age allows; never nil).
type StepUp struct {
	AAL     int      `json:"aal"`
	HaveAAL int      `json:"have_aal"`
	Factors []string `json:"factors"`
}

// StepUpOf returns what err says the session lacks when err is a
// step_up_required Error, else nil.
func StepUpOf(err error) *StepUp {
	var e *Error
	if errors.As(err, &e) && e.Code == CodeStepUpRequired {
		if e.StepUp == nil {
			return &StepUp{Factors: []string{}}
		}
		return e.StepUp
	}
	return nil
}

func (e *Error) Error() string {
	s := "sessiond: " + e.Code + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns err's problem code, or "" if err is not a sessiond Error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsSessionEnded reports whether err says the user's session is over
// (invalid, expired, binding mismatch): clear the cookie. Nothing else is.
func IsSessionEnded(err error) bool {
	switch CodeOf(err) {
	case CodeSessionInvalid, CodeSessionExpiredIdle, CodeSessionExpiredAbsolute, CodeBindingMismatch:
		return true
	}
	return false
}

// IsUnavailable reports whether sessiond was unreachable or said 503:
// retry later, and log nobody out.
func IsUnavailable(err error) bool { return CodeOf(err) == CodeUnavailable }

// HTTPStatus is the status a browser should get when a sessiond call fails
// with err: 503 when sessiond is down, 500 when the API key is bad (never
// sessiond's own 401), 403 for CSRF, re-auth and step-up, 429, 409, 413.
func HTTPStatus(err error) int {
	switch CodeOf(err) {
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeCSRFMismatch, CodeReauthRequired, CodeStepUpRequired:
		return http.StatusForbidden
	case CodeSessionLimitReached, CodeVersionConflict:
		return http.StatusConflict
	case CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// retryAfterSeconds is err's Retry-After in whole seconds (at least 1; 5 when unknown).
func retryAfterSeconds(err error) int {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter >= time.Second {
		return int(e.RetryAfter / time.Second)
	}
	return 5
}
