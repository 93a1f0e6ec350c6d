package httpapi

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testkit"
)

// The bucket holds one second of the rate, refills at the rate, keeps
// tenants apart, and restarts when the clock steps back.
func TestRateLimiterTake(t *testing.T) {
	clock := testkit.NewClock()
	l := &rateLimiter{now: clock.Now}
	for i := range 4 {
		if ok, _ := l.take("tn_a", 4, 1, 1); !ok {
			t.Fatalf("request %d of 4 refused", i+1)
		}
	}
	ok, wait := l.take("tn_a", 4, 1, 1)
	if ok || wait != 250*time.Millisecond {
		t.Fatalf("request 5 of 4: ok %v, wait %v; want refused for 250ms", ok, wait)
	}
	if ok, _ := l.take("tn_b", 4, 1, 1); !ok {
		t.Fatal("another tenant was refused")
	}
	clock.Advance(250 * time.Millisecond)
	if ok, _ := l.take("tn_a", 4, 1, 1); !ok {
		t.Fatal("refused after a quarter second refilled one request")
	}
	if ok, _ := l.take("tn_a", 4, 1, 1); ok {
		t.Fatal("a second request allowed after one refilled")
	}
	clock.Advance(-time.Hour)
	if ok, _ := l.take("tn_a", 4, 1, 1); !ok {
		t.Fatal("a clock stepped back locked the tenant out")
	}
}

// A call of several requests (verify-batch) spends them all when the
// bucket holds what it needs; one larger than the bucket leaves it in
// debt, which a clock stepped back does not wipe out, and refund gives a
// refused call's requests back.
func TestRateLimiterTakesACallOfManyRequests(t *testing.T) {
	clock := testkit.NewClock()
	l := &rateLimiter{now: clock.Now, maxCost: 100}
	if ok, _ := l.take("tn_a", 10, 4, 4); !ok {
		t.Fatal("4 of a full bucket of 10 refused")
	}
	if ok, wait := l.take("tn_a", 10, 7, 7); ok || wait != 100*time.Millisecond {
		t.Fatalf("7 of the 6 left: ok %v, wait %v; want refused for 100ms", ok, wait)
	}
	if ok, _ := l.take("tn_a", 10, 6, 6); !ok {
		t.Fatal("6 of the 6 left refused")
	}
	clock.Advance(time.Second)
	if ok, _ := l.take("tn_a", 10, 100, 10); !ok {
		t.Fatal("100 on a full bucket of 10 refused")
	}
	clock.Advance(-500 * time.Millisecond) // a small step back: the debt stands
	clock.Advance(9500 * time.Millisecond)
	if ok, _ := l.take("tn_a", 10, 1, 1); ok {
		t.Fatal("a request allowed before the debt of 90 was paid (9 s)")
	}
	l.refund("tn_a", 10, 2)
	if ok, _ := l.take("tn_a", 10, 1, 1); !ok {
		t.Fatal("refused after 2 requests were given back")
	}
	clock.Advance(-time.Hour)
	if ok, _ := l.take("tn_a", 10, 1, 1); !ok {
		t.Fatal("a clock stepped back locked the tenant out")
	}
}

// BenchmarkRateLimiterTake is the limiter's cost per request (one map
// lookup, one compare-and-swap); it must not allocate.
func BenchmarkRateLimiterTake(b *testing.B) {
	l := &rateLimiter{now: time.Now}
	l.take("tn_bench", 1<<30, 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		l.take("tn_bench", 10_000_000, 1, 1)
	}
}
