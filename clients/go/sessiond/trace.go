package sessiond

import "context"

// traceparentKey is the context key of WithTraceparent.
type traceparentKey struct{}

// WithTraceparent returns a context whose calls to sessiond carry the W3C
// traceparent tp (and tracestate ts, if not empty), so that sessiond's spans
// join the app's trace (sessiond traces when its operator turns tracing on).
// An app using OpenTelemetry gets both from its propagator:
//
//	carrier := propagation.MapCarrier{}
//	otel.GetTextMapPropagator().Inject(ctx, carrier)
//	ctx = sessiond.WithTraceparent(ctx, carrier["traceparent"], carrier["tracestate"])
//
// A tp that is not a well-formed traceparent is ignored.
func WithTraceparent(ctx context.Context, tp, ts string) context.Context {
	if !validTraceparent(tp) {
		return ctx
	}
	return context.WithValue(ctx, traceparentKey{}, [2]string{tp, ts})
}

// traceHeaders returns the traceparent and tracestate headers of ctx.
func traceHeaders(ctx context.Context) (tp, ts string) {
	v, _ := ctx.Value(traceparentKey{}).([2]string)
	return v[0], v[1]
}

// validTraceparent checks the form version-traceid-parentid-flags in
// lowercase hex (00-<32>-<16>-<2>), and that neither id is all zeros.
func validTraceparent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s[:2] != "ff" && s[3:35] != "00000000000000000000000000000000" && s[36:52] != "0000000000000000"
}
