package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[fault.Code]int{
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
	fault.PayloadTooLarge:        http.StatusRequestEntityTooLarge,
	fault.RateLimited:            http.StatusTooManyRequests,
	fault.Unavailable:            http.StatusServiceUnavailable,
	fault.Internal:               http.StatusInternalServerError,
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string             `json:"type"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail,omitempty"`
	Code      fault.Code         `json:"code"`
	RequestID string             `json:"request_id"`
	Errors    []fault.FieldError `json:"errors,omitempty"`
}

// writeError answers err as problem+json. Errors without a code are logged
// with the request id and shown to the client only as "Internal error".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		fe = &fault.Error{Code: fault.Internal, Message: "internal error", Cause: err}
	}
	status, ok := statusOf[fe.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	rid := requestIDFrom(r.Context())
	p := problem{
		Type:      "urn:sessiond:problem:" + string(fe.Code),
		Title:     titleOf(fe.Code),
		Status:    status,
		Detail:    fe.Message,
		Code:      fe.Code,
		RequestID: rid,
		Errors:    fe.Fields,
	}
	switch {
	case status >= 500 && fe.Code != fault.Unavailable:
		p.Detail = "Internal error. Quote request id " + rid + " when reporting it."
		p.Code = fault.Internal
		log.Error("internal error", slog.String("request_id", rid), slog.String("error", err.Error()))
	case fe.Code == fault.Unavailable:
		w.Header().Set("Retry-After", "2")
		log.Warn("dependency unavailable", slog.String("request_id", rid), slog.String("error", err.Error()))
	case fe.Code == fault.RateLimited:
		w.Header().Set("Retry-After", "60")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

func titleOf(c fault.Code) string {
	s := strings.ReplaceAll(string(c), "_", " ")
	if s == "" {
		return "Error"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// StatusOf returns the HTTP status of an error code, from the one table
// (500 for a code it does not know). The admin UI uses it too.
func StatusOf(code fault.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}
