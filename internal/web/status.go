package web

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/fault"
)

// statuses is the one table from error codes to HTTP statuses.
var statuses = map[fault.Code]int{
	fault.InvalidRequest:         http.StatusBadRequest,
	fault.Unauthorized:           http.StatusUnauthorized,
	fault.Forbidden:              http.StatusForbidden,
	fault.NotFound:               http.StatusNotFound,
	fault.MethodNotAllowed:       http.StatusMethodNotAllowed,
	fault.Conflict:               http.StatusConflict,
	fault.UnsupportedMediaType:   http.StatusUnsupportedMediaType,
	fault.SessionInvalid:         http.StatusUnauthorized,
	fault.SessionExpiredIdle:     http.StatusUnauthorized,
	fault.SessionExpiredAbsolute: http.StatusUnauthorized,
	fault.CSRFMismatch:           http.StatusForbidden,
	fault.ReauthRequired:         http.StatusForbidden,
	fault.BindingMismatch:        http.StatusUnauthorized,
	fault.SessionLimitReached:    http.StatusConflict,
	fault.VersionConflict:        http.StatusPreconditionFailed,
	fault.PreconditionRequired:   http.StatusPreconditionRequired,
	fault.IdempotencyKeyReused:   http.StatusUnprocessableEntity,
	fault.PayloadTooLarge:        http.StatusRequestEntityTooLarge,
	fault.RateLimited:            http.StatusTooManyRequests,
	fault.Unavailable:            http.StatusServiceUnavailable,
	fault.Internal:               http.StatusInternalServerError,
}

// StatusOf returns the HTTP status of an error code (500 for a code it
// does not know).
func StatusOf(code fault.Code) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}
