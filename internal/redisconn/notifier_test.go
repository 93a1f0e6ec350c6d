package redisconn_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redisconn"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// listen subscribes n and returns the tenant ids it hears, once ready.
func listen(t *testing.T, ctx context.Context, n *redisconn.Notifier) <-chan string {
	t.Helper()
	heard, ready := make(chan string, 10), make(chan struct{}, 1)
	go n.Subscribe(ctx, tenants.Listener{
		Changed: func(id string) { heard <- id },
		Ready:   func() { ready <- struct{}{} },
		Alive:   func(time.Time) {},
		Lost:    func() {},
	})
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription never became ready")
	}
	return heard
}

func TestNoticesReachOtherInstancesOnly(t *testing.T) {
	rdb := testkit.Redis(t)
	prefix := testkit.Prefix(t, rdb)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	one := redisconn.NewNotifier(rdb, prefix, log, redisconn.NotifierOptions{})
	two := redisconn.NewNotifier(rdb, prefix, log, redisconn.NotifierOptions{})
	elsewhere := redisconn.NewNotifier(rdb, prefix+"x", log, redisconn.NotifierOptions{})
	heardByOne, heardByTwo, heardElsewhere := listen(t, ctx, one), listen(t, ctx, two), listen(t, ctx, elsewhere)

	if err := one.Publish(ctx, "tn_aaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-heardByTwo:
		if id != "tn_aaaaaaaaaaaaaaaa" {
			t.Fatalf("instance two heard %q", id)
		}
	case <-time.After(time.Second):
		t.Fatal("instance two did not hear the notice within a second")
	}
	// A second notice, from two, tells that one's own was not merely slow.
	if err := two.Publish(ctx, "tn_bbbbbbbbbbbbbbbb"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-heardByOne:
		if id != "tn_bbbbbbbbbbbbbbbb" {
			t.Fatalf("instance one heard its own notice %q", id)
		}
	case <-time.After(time.Second):
		t.Fatal("instance one did not hear instance two")
	}
	select {
	case id := <-heardElsewhere:
		t.Fatalf("another deployment's prefix heard %q", id)
	default:
	}
}
