package sessiond_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
)

// BenchmarkVerifyOverhead compares a verify through the Client with the same
// request made by hand on a plain keep-alive http.Client, against a running
// sessiond (skipped unless SESSIOND_URL and SESSIOND_API_KEY are set):
//
//	SESSIOND_URL=http://127.0.0.1:8080 SESSIOND_API_KEY=sk_... \
//	  go test -run '^$' -bench VerifyOverhead -benchmem ./clients/go/sessiond/
//
// ns/op includes sessiond's own time; the difference between the two, and
// allocs/op, is what the Client adds. "client cached" is a cache hit
// (WithCache): no network call.
func BenchmarkVerifyOverhead(b *testing.B) {
	url, key := os.Getenv("SESSIOND_URL"), os.Getenv("SESSIOND_API_KEY")
	if url == "" || key == "" {
		b.Skip("set SESSIOND_URL and SESSIOND_API_KEY")
	}
	ctx := context.Background()
	c, err := sessiond.New(url, key)
	if err != nil {
		b.Fatal(err)
	}
	s, err := c.CreateSession(ctx, sessiond.CreateParams{UserID: "overhead"})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"token":"` + s.Token + `"}`)
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("POST", strings.TrimRight(url, "/")+"/v1/sessions/verify", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := direct.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatal(res.Status)
				}
			}
		})
	})
	b.Run("client cached", func(b *testing.B) {
		cc, err := sessiond.New(url, key, sessiond.WithCache(sessiond.CacheOptions{}))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		for deadline := time.Now().Add(10 * time.Second); !cc.CacheStats().Ready; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Skip("the change stream did not become ready")
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cc.Verify(ctx, sessiond.VerifyParams{Token: s.Token}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: s.Token}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
