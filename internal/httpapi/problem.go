package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/web"
)

// problem is an RFC 9457 problem details body, written by appendProblem
// in the order and with the omissions of these tags.
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
	rid := web.RequestID(r.Context())
	switch code := fault.CodeOf(err); {
	case code == fault.Unavailable:
		log.Warn("dependency unavailable", slog.String("request_id", rid), slog.String("error", err.Error()))
	case web.StatusOf(code) >= 500:
		log.Error("internal error", slog.String("request_id", rid), slog.String("error", err.Error()))
	}
	writeProblem(w, r, err)
}

// writeProblem answers err as problem+json, without logging: a 5xx other
// than unavailable shows only a generic message with the request id.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		fe = &fault.Error{Code: fault.Internal, Message: "internal error", Cause: err}
	}
	status := web.StatusOf(fe.Code)
	rid := web.RequestID(r.Context())
	p := problem{
		Type:      typeOf(fe.Code),
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
		p.Type, p.Title = typeOf(fault.Internal), titleOf(fault.Internal)
	case fe.Code == fault.Unavailable:
		w.Header().Set("Retry-After", "2")
	case fe.Code == fault.RateLimited && w.Header().Get("Retry-After") == "":
		w.Header().Set("Retry-After", "60")
	}
	h := w.Header()
	h["Content-Type"] = contentTypeProblem
	h["Cache-Control"] = noStoreValue
	w.WriteHeader(status)
	bp := encodeBuffers.Get().(*[]byte)
	b := appendProblem((*bp)[:0], &p)
	_, _ = w.Write(b)
	*bp = b
	encodeBuffers.Put(bp)
}

// problemNames are the problem types and titles of the stable codes, made
// once.
var problemNames = func() map[fault.Code][2]string {
	m := map[fault.Code][2]string{}
	for _, c := range []fault.Code{
		fault.InvalidRequest, fault.Unauthorized, fault.Forbidden, fault.NotFound, fault.Conflict,
		fault.MethodNotAllowed, fault.UnsupportedMediaType, fault.SessionInvalid, fault.SessionExpiredIdle,
		fault.SessionExpiredAbsolute, fault.CSRFMismatch, fault.ReauthRequired, fault.BindingMismatch,
		fault.SessionLimitReached, fault.VersionConflict, fault.PreconditionRequired, fault.IdempotencyKeyReused, fault.PayloadTooLarge,
		fault.RateLimited, fault.Unavailable, fault.Internal,
	} {
		m[c] = [2]string{makeType(c), makeTitle(c)}
	}
	return m
}()

func typeOf(c fault.Code) string {
	if n, ok := problemNames[c]; ok {
		return n[0]
	}
	return makeType(c)
}

func titleOf(c fault.Code) string {
	if n, ok := problemNames[c]; ok {
		return n[1]
	}
	return makeTitle(c)
}

func makeType(c fault.Code) string { return "urn:sessiond:problem:" + string(c) }

func makeTitle(c fault.Code) string {
	s := strings.ReplaceAll(string(c), "_", " ")
	if s == "" {
		return "Error"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
