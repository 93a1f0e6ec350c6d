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
		if ok, _ := l.take("tn_a", 4); !ok {
			t.Fatalf("request %d of 4 refused", i+1)
		}
	}
	ok, wait := l.take("tn_a", 4)
	if ok || wait != 250*time.Millisecond {
		t.Fatalf("request 5 of 4: ok %v, wait %v; want refused for 250ms", ok, wait)
	}
	if ok, _ := l.take("tn_b", 4); !ok {
		t.Fatal("another tenant was refused")
	}
	clock.Advance(250 * time.Millisecond)
	if ok, _ := l.take("tn_a", 4); !ok {
		t.Fatal("refused after a quarter second refilled one request")
	}
	if ok, _ := l.take("tn_a", 4); ok {
		t.Fatal("a second request allowed after one refilled")
	}
	clock.Advance(-time.Hour)
	if ok, _ := l.take("tn_a", 4); !ok {
		t.Fatal("a clock stepped back locked the tenant out")
	}
}

// BenchmarkRateLimiterTake is the limiter's cost per request (one map
// lookup, one compare-and-swap); it must not allocate.
func BenchmarkRateLimiterTake(b *testing.B) {
	l := &rateLimiter{now: time.Now}
	l.take("tn_bench", 1<<30)
	b.ReportAllocs()
	for b.Loop() {
		l.take("tn_bench", 10_000_000)
	}
}
