package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/web"
)

// problem is an RFC 9457 problem details body (Problem in
// api/openapi.yaml).
type problem struct {
	Type      string             `json:"type"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail,omitempty"`
	Code      fault.Code         `json:"code"`
	RequestID string             `json:"request_id"`
	Errors    []fault.FieldError `json:"errors,omitempty"`
	StepUp    *fault.StepUp      `json:"step_up,omitempty"`
}

// writeError answers err as problem+json. Errors without a code are logged
// with the request id and shown to the client only as "Internal error".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	rid := web.RequestID(r.Context())
	switch code := fault.CodeOf(err); {
	case code == fault.Unavailable:
		log.Warn("dependency unavailable", slog.String("request_id", rid), slog.String("error", err.Error()))
	case code.Status() >= 500:
		log.Error("internal error", slog.String("request_id", rid), slog.String("error", err.Error()))
	}
	writeProblem(w, r, err)
}

var bearerChallenge = []string{"Bearer"}

// writeProblem answers err as problem+json (problemOf), without logging.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err, web.RequestID(r.Context()))
	switch {
	case p.Code == fault.Unavailable:
		w.Header().Set("Retry-After", "2")
	case p.Code == fault.RateLimited && w.Header().Get("Retry-After") == "":
		w.Header().Set("Retry-After", "60")
	case p.Status == http.StatusUnauthorized:
		// RFC 9110: a 401 names the scheme it wants (an API key or the
		// operator token, both bearer credentials).
		w.Header()["Www-Authenticate"] = bearerChallenge
	}
	h := w.Header()
	h["Content-Type"] = contentTypeProblem
	h["Cache-Control"] = noStoreValue
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(&p)
}

// problemOf is the problem details of err in the request rid: a 5xx other
// than unavailable shows only a generic message with the request id.
func problemOf(err error, rid string) problem {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		fe = &fault.Error{Code: fault.Internal, Message: "internal error", Cause: err}
	}
	p := problem{
		Type:      fe.Code.Type(),
		Title:     fe.Code.Title(),
		Status:    fe.Code.Status(),
		Detail:    fe.Message,
		Code:      fe.Code,
		RequestID: rid,
		Errors:    fe.Fields,
		StepUp:    fe.StepUp,
	}
	if p.Status >= 500 && fe.Code != fault.Unavailable {
		p.Detail = "Internal error. Quote request id " + rid + " when reporting it."
		p.Code = fault.Internal
		p.Type, p.Title = fault.Internal.Type(), fault.Internal.Title()
	}
	return p
}
