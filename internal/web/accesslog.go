package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Unmatched is the route the access log names when no route matched: a
// fixed placeholder, never the raw path.
const Unmatched = "(unmatched)"

// SetRoute names r's route for the access log: a template such as
// "/v1/sessions/{session_id}", never a path with values in it. Routers call
// it once a route matched; without it the request is logged as Unmatched.
func SetRoute(r *http.Request, template string) {
	if st := stateOf(r.Context()); st != nil {
		st.route = template
	}
}

// Route returns the route template SetRoute named for the request of ctx,
// or Unmatched.
func Route(ctx context.Context) string {
	return stateOf(ctx).routeName()
}

// routeName is the route template SetRoute named, or Unmatched.
func (st *state) routeName() string {
	if st == nil || st.route == "" {
		return Unmatched
	}
	return st.route
}

// Recorder is a response writer that remembers the status and the number
// of body bytes written through it. Unwrap gives http.ResponseController
// the writer underneath.
type Recorder struct {
	http.ResponseWriter
	Status int // 0 until the first WriteHeader or Write
	Bytes  int
}

// WriteHeader records the first status written.
func (rec *Recorder) WriteHeader(code int) {
	if rec.Status == 0 {
		rec.Status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *Recorder) Write(b []byte) (int, error) {
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.Bytes += n
	return n, err
}

// Unwrap returns the wrapped writer.
func (rec *Recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// quietRoutes log at debug level: health checks and static assets.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/admin/static/{file}": true}

// WithAccessLog writes one JSON line per request, API or admin UI: its
// request id, method, route template (see SetRoute; never the raw path),
// status, size and duration. Never headers, bodies, form values, query
// strings or paths, which could carry credentials.
func WithAccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &Recorder{ResponseWriter: w}
		r, st := track(r)
		next.ServeHTTP(rec, r)
		rt := st.routeName()
		level := slog.LevelInfo
		if quietRoutes[rt] {
			level = slog.LevelDebug
		}
		ctx, h := r.Context(), log.Handler()
		if !h.Enabled(ctx, level) {
			return
		}
		// The line's Record made here, as Logger.LogAttrs would make it but
		// without the caller's program counter (runtime.Callers), which an
		// access log line never shows; attributes, not []any boxing.
		now := time.Now()
		line := slog.NewRecord(now, level, "request", 0)
		line.AddAttrs(
			slog.String("request_id", st.id),
			slog.String("method", r.Method),
			slog.String("route", rt),
			slog.Int("status", rec.Status),
			slog.Int("bytes", rec.Bytes),
			slog.Duration("duration", now.Sub(start)),
		)
		_ = h.Handle(ctx, line)
	})
}
