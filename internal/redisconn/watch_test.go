package redisconn_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/redisconn"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// proxied returns a client for the test Redis through a fault proxy.
func proxied(t *testing.T) (redis.UniversalClient, *testkit.FaultProxy) {
	t.Helper()
	u, err := url.Parse(testkit.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartFaultProxy(t, u.Host)
	u.Host = p.Addr()
	rdb, err := redisconn.Open(redisconn.Options{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, p
}

// events records what a subscription reports, in order.
func events(ctx context.Context, n *redisconn.Notifier) <-chan string {
	ch := make(chan string, 1000)
	send := func(s string) {
		select {
		case ch <- s:
		default:
		}
	}
	go n.Subscribe(ctx, tenants.Listener{
		Ready:   func() { send("ready") },
		Changed: func(id string) { send("changed " + id) },
		Alive:   func(time.Time) { send("alive") },
		Lost:    func() { send("lost") },
	})
	return ch
}

func await(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("the subscription never reported %q", want)
		}
	}
}

// A half-open subscription (the connection stays open, nothing comes back)
// is dropped and made anew, and answered PINGs say it is alive.
func TestAHalfOpenSubscriptionIsNoticedAndMadeAnew(t *testing.T) {
	rdb, p := proxied(t)
	prefix := testkit.Prefix(t, testkit.Redis(t))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := redisconn.NewNotifier(rdb, prefix, log, redisconn.NotifierOptions{})
	ev := events(ctx, n)
	await(t, ev, "ready")
	await(t, ev, "alive")
	p.HalfOpen()
	// Without PINGs nothing would ever arrive on a silent connection.
	await(t, ev, "lost")
	await(t, ev, "ready")
	await(t, ev, "alive")
}

// A publish through a frozen connection answers within PublishWait with an
// error, and the notice still arrives once Redis can be reached again.
func TestAPublishThatRedisDoesNotTakeIsRetriedInTheBackground(t *testing.T) {
	rdb, p := proxied(t)
	direct := testkit.Redis(t)
	prefix := testkit.Prefix(t, direct)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := redisconn.NewNotifier(rdb, prefix, log, redisconn.NotifierOptions{})
	reader := redisconn.NewNotifier(direct, prefix, log, redisconn.NotifierOptions{})
	ev := events(ctx, reader)
	await(t, ev, "ready")
	for _, fault := range []func(){p.Freeze, p.Cut} {
		fault()
		if err := writer.Publish(ctx, "tn_aaaaaaaaaaaaaaaa"); err == nil {
			t.Fatal("a publish Redis could not take reported success")
		}
		p.Restore()
		await(t, ev, "changed tn_aaaaaaaaaaaaaaaa")
	}
}
