package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// WithRequestID echoes a well-formed X-Request-Id or makes one, sets it on
// the response, and gives it to the request (RequestID) for logs and error
// bodies. It wraps every surface once, at the top.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		r, st := track(r)
		st.id = id
		next.ServeHTTP(w, r)
	})
}

// RequestID returns the request id WithRequestID gave the request of ctx
// ("" outside it).
func RequestID(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}
