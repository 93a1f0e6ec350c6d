package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/web"
)

// discardWriter is a ResponseWriter that keeps nothing, so that a
// benchmark measures the handler's work and not a recorder's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkVerifyHTTPWork measures, without Redis or the rest of the
// chain, the HTTP work of one verify: read the body, validate the request
// against its operation (found once, at registration), decode the body,
// encode the answer.
//
//	go test -run '^$' -bench VerifyHTTPWork -benchmem ./internal/httpapi/
func BenchmarkVerifyHTTPWork(b *testing.B) {
	doc, err := LoadSpec()
	if err != nil {
		b.Fatal(err)
	}
	v, err := newValidator(doc)
	if err != nil {
		b.Fatal(err)
	}
	op, err := v.operation("POST", "/v1/sessions/verify")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"token":"v1.k_7fq2m4xxa3vbn5cd.ab.gH3kq9Zt0vLw2cYxR8sPq1mNnB4uVzA7eT6yJ5oKdIf.Qm9uY2VfbWFjX2V4YW1wbGVfb25seV9ub3RfYV9yZWFsX3Rv","csrf_token":"3qk9ZtLw2cYxR8sPq1mNnB4uVzA7eT6yJ5oKdIfgH0s"}`)
	at := sessions.Time{Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	later := func(d time.Duration) sessions.Time { return sessions.Time{Time: at.Add(d)} }
	out := sessions.Verified{
		Session: sessions.Session{ID: "sab_2xk4m7qpa3vbn5cd2xk4m7qpa3vbn5cd", UserID: "bench", CreatedAt: at,
			LastSeenAt: later(5 * time.Minute), AuthTime: &at, ExpiresAt: later(8 * time.Hour), IdleExpiresAt: later(35 * time.Minute),
			IdleTimeout: 1800, Device: sessions.Device{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", IP: "203.0.113.9", Label: "Firefox 133 on Linux"},
			Data: []byte(`{"cart":3}`), Version: 2},
		CSRFToken: "3qk9ZtLw2cYxR8sPq1mNnB4uVzA7eT6yJ5oKdIfgH0s",
	}
	r := httptest.NewRequest("POST", "/v1/sessions/verify", nil)
	r.Header.Set("Content-Type", "application/json")
	c := &call{op: op} // as endpoint keeps it
	r = web.Keep(r, c)
	w := &discardWriter{h: http.Header{}}
	h := withBody(func(w http.ResponseWriter, r *http.Request, req *sessions.VerifyParams) error {
		noStore(w)
		return writeJSON(w, http.StatusOK, &out)
	})
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if c.body, err = readBody(w, r, 1<<20); err != nil {
			b.Fatal(err)
		}
		if c.checked, err = v.validate(r, op, c.body); err != nil {
			b.Fatal(err)
		}
		if err := h(w, r); err != nil {
			b.Fatal(err)
		}
	}
}
