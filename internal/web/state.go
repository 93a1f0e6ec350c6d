package web

import (
	"context"
	"net/http"
)

// state is what the layers of the chain learn about one request: its id
// (WithRequestID), its route template (SetRoute) and the surface's own
// (Keep). The outermost layer puts it in the request's context, once; the
// others fill it in, so that none copies the request (WithContext) to add
// a value.
type state struct {
	id    string
	route string
	kept  any
}

type stateKey struct{}

func stateOf(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// track returns r and its state: a copy of r with a new state in its
// context when r has none yet.
func track(r *http.Request) (*http.Request, *state) {
	if st := stateOf(r.Context()); st != nil {
		return r, st
	}
	st := &state{}
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, st)), st
}

// Keep keeps v, the state of r its surface needs down its chain (the API's
// caller and body), with r's request id and route; Kept returns it. It
// returns r, or, for a request that came in without WithRequestID or
// WithAccessLog (a surface's router served alone, in tests), a copy of r
// that holds v.
func Keep(r *http.Request, v any) *http.Request {
	r, st := track(r)
	st.kept = v
	return r
}

// Kept returns what Keep kept for the request of ctx, or nil.
func Kept(ctx context.Context) any {
	if st := stateOf(ctx); st != nil {
		return st.kept
	}
	return nil
}
