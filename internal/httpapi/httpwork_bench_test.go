package httpapi

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// discardWriter is a ResponseWriter that keeps nothing, so that a
// benchmark measures the handler's work and not a recorder's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkVerifyHTTPWork measures, without Redis or the rest of the
// chain, the HTTP work of one verify that the compiled path replaced: read
// the body, check it against the document, decode it, encode the answer.
// "openapi" is the general path (kin-openapi's validator, decodeJSON,
// encoding/json: every verify's path before the compiled checks);
// "compiled" is the hot path.
//
//	go test -run '^$' -bench VerifyHTTPWork -benchmem ./internal/httpapi/
func BenchmarkVerifyHTTPWork(b *testing.B) {
	s := newTestServer(b)
	body := []byte(`{"token":"v1.k_7fq2m4xxa3vbn5cd.ab.gH3kq9Zt0vLw2cYxR8sPq1mNnB4uVzA7eT6yJ5oKdIf.Qm9uY2VfbWFjX2V4YW1wbGVfb25seV9ub3RfYV9yZWFsX3Rv","csrf_token":"3qk9ZtLw2cYxR8sPq1mNnB4uVzA7eT6yJ5oKdIfgH0s"}`)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	out := sessions.Verified{
		Session: sessions.Session{ID: "sab_2xk4m7qpa3vbn5cd2xk4m7qpa3vbn5cd", UserID: "bench", CreatedAt: at,
			LastSeenAt: at.Add(5 * time.Minute), AuthTime: &at, ExpiresAt: at.Add(8 * time.Hour), IdleExpiresAt: at.Add(35 * time.Minute),
			IdleTimeout: 1800, Device: sessions.Device{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", IP: "203.0.113.9", Label: "Firefox 133 on Linux"},
			Data: []byte(`{"cart":3}`), Version: 2},
		CSRFToken: "3qk9ZtLw2cYxR8sPq1mNnB4uVzA7eT6yJ5oKdIfgH0s",
	}
	r := httptest.NewRequest("POST", "/v1/sessions/verify", nil)
	r.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	handler := func(w http.ResponseWriter, r *http.Request, req *sessionVerifyRequest) error {
		noStore(w)
		return writeEncoded(w, http.StatusOK, func(b []byte) ([]byte, error) { return appendVerified(b, &out) })
	}

	b.Run("openapi", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			r.Body = io.NopCloser(bytes.NewReader(body))
			data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
			if err != nil {
				b.Fatal(err)
			}
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				b.Fatal(mt, err)
			}
			r.Body = io.NopCloser(bytes.NewReader(data))
			if err := s.validator.validate(r); err != nil {
				b.Fatal(err)
			}
			var req sessionVerifyRequest
			if err := decodeJSON(r, &req); err != nil {
				b.Fatal(err)
			}
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
			if err := writeJSON(w, http.StatusOK, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compiled", func(b *testing.B) {
		fb := withBody(verifyCheck, handler)
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			r.Body = io.NopCloser(bytes.NewReader(body))
			data, err := readBody(w, r, s.MaxBodyBytes)
			if err != nil {
				b.Fatal(err)
			}
			if handled, err := fb.handle(w, r, data); !handled || err != nil {
				b.Fatal(handled, err)
			}
		}
	})
}
