package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/clients/go/sessiond"
)

// TestCacheHitAppliesThePolicysMinAAL: a cached session below the policy's
// min_aal is never a hit (a fake sessiond that answers its verify anyway, so
// only the cache's own check can refuse the hit).
func TestCacheHitAppliesThePolicysMinAAL(t *testing.T) {
	for _, tc := range []struct {
		policy string
		aal    int
		hit    bool
	}{
		{`"min_aal":2`, 1, false},
		{`"min_aal":2`, 2, true},
		{`"min_aal":1`, 1, true},
		{``, 1, true}, // a sessiond before min_aal
	} {
		t.Run(fmt.Sprintf("policy {%s}, aal %d", tc.policy, tc.aal), func(t *testing.T) {
			var verifies atomic.Int32
			policy := `{"rolling":false,"binding":{"user_agent":"off","ip":"off"}`
			if tc.policy != "" {
				policy += "," + tc.policy
			}
			policy += "}"
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/changes", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprintf(w, "event: ready\ndata: {\"policy\":%s,\"heartbeat_ms\":60000,\"touch_interval_ms\":60000}\n\n", policy)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
			mux.HandleFunc("POST /v1/sessions/verify", func(w http.ResponseWriter, r *http.Request) {
				verifies.Add(1)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"session":{"id":"sab_1","user_id":"u","created_at":"2026-01-01T00:00:00Z","last_seen_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z","idle_expires_at":"2999-01-01T00:00:00Z","idle_timeout":1800,"device":{},"data":{},"version":1,"amr":[{"method":"pwd","at":"2026-01-01T00:00:00Z"}],"aal":%d},"csrf_token":"c"}`, tc.aal)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			c, err := sessiond.New(srv.URL, "sk_test", sessiond.WithCache(sessiond.CacheOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			waitFor(t, "ready", func() bool { return c.CacheStats().Ready })
			for range 2 {
				if _, err := c.Verify(context.Background(), sessiond.VerifyParams{Token: "t1"}); err != nil {
					t.Fatal(err)
				}
			}
			if hit := verifies.Load() == 1; hit != tc.hit {
				t.Fatalf("hit = %v, want %v (%d verifies sent)", hit, tc.hit, verifies.Load())
			}
		})
	}
}

// TestStepUpProblemIsDecoded: the step_up member of a step_up_required
// problem is Error.StepUp; a problem without it still gives a StepUp.
func TestStepUpProblemIsDecoded(t *testing.T) {
	for _, tc := range []struct {
		body string
		want sessiond.StepUp
	}{
		{`{"type":"about:blank","title":"Step-up required","status":403,"code":"step_up_required","request_id":"r1","step_up":{"aal":2,"have_aal":1,"factors":["otp"]}}`,
			sessiond.StepUp{AAL: 2, HaveAAL: 1, Factors: []string{"otp"}}},
		{`{"type":"about:blank","title":"Step-up required","status":403,"code":"step_up_required","request_id":"r1"}`,
			sessiond.StepUp{Factors: []string{}}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(403)
			fmt.Fprint(w, tc.body)
		}))
		c, err := sessiond.New(srv.URL, "sk_test")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Verify(context.Background(), sessiond.VerifyParams{Token: "t", MinAAL: 2})
		srv.Close()
		var e *sessiond.Error
		if !errors.As(err, &e) || e.Code != sessiond.CodeStepUpRequired || e.StepUp == nil || !reflect.DeepEqual(*e.StepUp, tc.want) {
			t.Fatalf("%s: %#v", tc.body, err)
		}
		if su := sessiond.StepUpOf(err); su != e.StepUp || sessiond.HTTPStatus(err) != 403 || sessiond.IsSessionEnded(err) {
			t.Fatalf("StepUpOf %+v, HTTPStatus %d", su, sessiond.HTTPStatus(err))
		}
	}
}

// TestCacheReadsAPolicyChangeItWasNotSent: a tenant frame saying the policy
// changed, without it, makes the cache reconnect (after that frame) to read
// it from ready: the new min_aal then applies to hits.
func TestCacheReadsAPolicyChangeItWasNotSent(t *testing.T) {
	var minAAL, connects, verifies atomic.Int32
	minAAL.Store(1)
	frames := make(chan string, 1)
	lastIDs := make(chan string, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/changes", func(w http.ResponseWriter, r *http.Request) {
		connects.Add(1)
		lastIDs <- r.Header.Get("Last-Event-ID")
		serveStream(w, r, fmt.Sprintf(`{"policy":{"rolling":false,"binding":{"user_agent":"off","ip":"off"},"min_aal":%d},"heartbeat_ms":60000,"touch_interval_ms":60000}`, minAAL.Load()), frames)
	})
	mux.HandleFunc("POST /v1/sessions/verify", func(w http.ResponseWriter, r *http.Request) {
		verifies.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"session":{"id":"sab_1","user_id":"u","created_at":"2026-01-01T00:00:00Z","last_seen_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z","idle_expires_at":"2999-01-01T00:00:00Z","idle_timeout":1800,"device":{},"data":{},"version":1,"amr":[],"aal":1},"csrf_token":"c"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := sessiond.New(srv.URL, "sk_test", sessiond.WithCache(sessiond.CacheOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "ready", func() bool { return c.CacheStats().Ready })
	verify := func() {
		t.Helper()
		if _, err := c.Verify(context.Background(), sessiond.VerifyParams{Token: "t1"}); err != nil {
			t.Fatal(err)
		}
	}
	verify()
	verify()
	if verifies.Load() != 1 {
		t.Fatalf("min_aal 1: %d verifies sent, want 1 (a hit)", verifies.Load())
	}
	minAAL.Store(2)
	frames <- "id: 5-0\nevent: tenant\ndata: {\"reason\":\"policy\",\"policy\":null}\n\n"
	waitFor(t, "the reconnection", func() bool { return connects.Load() == 2 && c.CacheStats().Ready })
	<-lastIDs
	if id := <-lastIDs; id != "5-0" {
		t.Fatalf("reconnected with Last-Event-ID %q, want 5-0", id)
	}
	verify()
	verify()
	if verifies.Load() != 3 {
		t.Fatalf("min_aal 2 read from ready: %d verifies sent, want 3 (no hit for an aal-1 session)", verifies.Load())
	}
}
