package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/web"
)

// errPanic is the answer to a request whose handler panicked (the panic
// itself is logged by web.WithRecover).
var errPanic = fault.New(fault.Internal, "internal error")

// withRecover turns a panic into a generic 500 problem and a log line, so a
// bug never takes the process down or leaks a stack trace to a client.
func withRecover(log *slog.Logger, next http.Handler) http.Handler {
	return web.WithRecover(log, func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, errPanic) }, next)
}
