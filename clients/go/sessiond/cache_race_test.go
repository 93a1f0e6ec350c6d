package sessiond_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
)

// TestCacheRaceRule: a verify sessiond answered before a revocation, whose
// answer arrives after the revocation reached the cache, must not be kept
// (a fake sessiond: its stream and its verify are driven by the test).
func TestCacheRaceRule(t *testing.T) {
	frames := make(chan string, 4)
	release := make(chan struct{})
	var verifies atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/changes", func(w http.ResponseWriter, r *http.Request) {
		serveStream(w, r, `{"policy":{"rolling":true,"binding":{"user_agent":"off","ip":"off"}},"heartbeat_ms":60000,"touch_interval_ms":60000}`, frames)
	})
	mux.HandleFunc("POST /v1/sessions/verify", func(w http.ResponseWriter, r *http.Request) {
		verifies.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"session":{"id":"sab_1","user_id":"u","created_at":"2026-01-01T00:00:00Z","last_seen_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z","idle_expires_at":"2999-01-01T00:00:00Z","idle_timeout":1800,"device":{},"data":{},"version":1},"csrf_token":"c"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := sessiond.New(srv.URL, "sk_test", sessiond.WithCache(sessiond.CacheOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "ready", func() bool { return c.CacheStats().Ready })

	done := make(chan error)
	go func() { _, err := c.Verify(context.Background(), sessiond.VerifyParams{Token: "t1"}); done <- err }()
	waitFor(t, "the verify to reach sessiond", func() bool { return verifies.Load() == 1 })
	frames <- "id: 1-0\nevent: sessions\ndata: {\"ids\":[\"sab_1\"],\"reason\":\"revoked\"}\n\n"
	waitFor(t, "the drop", func() bool { return c.CacheStats().LastEventID == "1-0" })
	release <- struct{}{} // the pre-revocation answer arrives now
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := c.CacheStats().Entries; n != 0 {
		t.Fatalf("the answer that raced the drop was kept (%d entries)", n)
	}
	go func() { _, err := c.Verify(context.Background(), sessiond.VerifyParams{Token: "t1"}); done <- err }()
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if verifies.Load() != 2 || c.CacheStats().Entries != 1 {
		t.Fatalf("next verify: %d calls, %+v (want 2 calls, the answer kept)", verifies.Load(), c.CacheStats())
	}
}

// waitFor polls cond until it holds (15 s at most) and returns how long it
// took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// serveStream answers GET /v1/changes as sessiond does for a fake server:
// the ready frame with data ready, then each frame sent on frames, until the
// request ends.
func serveStream(w http.ResponseWriter, r *http.Request, ready string, frames <-chan string) {
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprintf(w, "event: ready\ndata: %s\n\n", ready)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case f := <-frames:
			fmt.Fprint(w, f)
			w.(http.Flusher).Flush()
		}
	}
}
