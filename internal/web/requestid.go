package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// WithRequestID echoes a well-formed X-Request-Id or makes one, sets it on
// the response, and gives it to the request (RequestID) for logs and error
// bodies. It wraps every surface once, at the top.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
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

// validRequestID reports whether id is 1 to 64 of A-Z, a-z, 0-9, '.', '_'
// and '-': an id safe to echo in a header, a log line and an error body.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// RequestID returns the request id WithRequestID gave the request of ctx
// ("" outside it).
func RequestID(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}
