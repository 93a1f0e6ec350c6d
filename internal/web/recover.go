package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// WithRecover turns a panic in next into one error log line (request id,
// route, the panic and its stack) and answer's generic error response, so a
// bug never takes the process down or shows a client a stack trace. Each
// surface answers in its own format (problem+json, an HTML page).
// http.ErrAbortHandler is passed on: it is net/http's way to abort a
// response.
func WithRecover(log *slog.Logger, answer func(w http.ResponseWriter, r *http.Request), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("panic while serving a request",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("route", Route(r.Context())),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			answer(w, r)
		}()
		next.ServeHTTP(w, r)
	})
}
