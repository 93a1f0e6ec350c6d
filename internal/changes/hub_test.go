package changes_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/changes"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/testkit"
)

func setup(t *testing.T, o changes.HubOptions) (*changes.Log, *changes.Hub, redis.UniversalClient) {
	t.Helper()
	rdb := testkit.Redis(t)
	prefix := testkit.Prefix(t, rdb)
	l := changes.NewLog(rdb, prefix, nil)
	h := changes.NewHub(rdb, l, o)
	t.Cleanup(h.Close)
	return l, h, rdb
}

// drain reads sub.C until it closes or ends, returning the End reason ("" if
// the channel closed without one); it fails after 5 s.
func drain(t *testing.T, sub *changes.Subscription) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-sub.C:
			if !ok {
				return ""
			}
			if f.End {
				return string(f.Data)
			}
		case <-timeout:
			t.Fatal("the subscription did not end within 5 s")
		}
	}
}

// A subscriber that does not read is disconnected once its buffer is full;
// the others keep receiving.
func TestSlowSubscriberIsDisconnected(t *testing.T) {
	l, h, _ := setup(t, changes.HubOptions{Buffer: 4})
	ctx := context.Background()
	slow, err := h.Subscribe(ctx, "t1", "ak_1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := h.Subscribe(ctx, "t1", "ak_1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	for i := range 10 {
		if err := l.SessionsEnded(ctx, "t1", []string{"s" + string(rune('a'+i))}, changes.Revoked); err != nil {
			t.Fatal(err)
		}
		// The reading subscriber gets each change, however far behind the
		// other one is.
		for f := range fast.C {
			if f.End {
				t.Fatalf("the reading subscriber was disconnected (%s)", f.Data)
			}
			if f.Event == changes.KindSessions {
				break
			}
		}
	}
	if reason := drain(t, slow); reason != "" && reason != "slow" {
		t.Fatalf("the slow subscriber ended with %q", reason)
	}
}

// Past the per-tenant cap, a new stream is refused with rate_limited; other
// tenants are not affected.
func TestStreamsPerTenantAreCapped(t *testing.T) {
	_, h, _ := setup(t, changes.HubOptions{MaxPerTenant: 2})
	ctx := context.Background()
	for range 2 {
		s, err := h.Subscribe(ctx, "t1", "ak", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	_, err := h.Subscribe(ctx, "t1", "ak", "")
	testkit.WantCode(t, err, fault.RateLimited)
	s, err := h.Subscribe(ctx, "t2", "ak", "")
	if err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	s.Close()
}

// An append Redis refuses is answered unavailable, ends the tenant's streams
// on this instance and refuses new ones until the background retry has
// appended it.
func TestFailedAppendFailsClosed(t *testing.T) {
	direct := testkit.Redis(t)
	prefix := testkit.Prefix(t, direct)
	proxy := testkit.NewProxy(t, direct.(*redis.Client).Options().Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { viaProxy.Close() })
	l := changes.NewLog(viaProxy, prefix, nil)
	h := changes.NewHub(direct, l, changes.HubOptions{})
	t.Cleanup(h.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sub, err := h.Subscribe(ctx, "t1", "ak", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	proxy.Stop()
	err = l.SessionsEnded(ctx, "t1", []string{"s1"}, changes.Revoked)
	testkit.WantCode(t, err, fault.Unavailable)
	if reason := drain(t, sub); reason != "unpublished_change" {
		t.Fatalf("the stream ended with %q", reason)
	}
	_, err = h.Subscribe(ctx, "t1", "ak", "")
	testkit.WantCode(t, err, fault.Unavailable)

	proxy.Start()
	go l.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for l.Pending("t1") {
		if time.Now().After(deadline) {
			t.Fatal("the failed append was not retried")
		}
		time.Sleep(50 * time.Millisecond)
	}
	msgs, err := direct.XRange(ctx, l.Key("t1"), "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].Values["d"] != `{"ids":["s1"],"reason":"revoked"}` {
		t.Fatalf("stream = %v, %v", msgs, err)
	}
	s2, err := h.Subscribe(ctx, "t1", "ak", "")
	if err != nil {
		t.Fatalf("after the retry: %v", err)
	}
	s2.Close()
}
