package attempts_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/attempts"
	"github.com/sessiond/sessiond/internal/testkit"
)

func newWindow(t *testing.T, limit int, window time.Duration) *attempts.Window {
	t.Helper()
	rdb := testkit.Redis(t)
	return attempts.New(rdb, testkit.Prefix(t, rdb), "test", limit, window)
}

// reserve fails the test on an error and returns whether the attempt was
// reserved, and the wait of a refusal.
func reserve(t *testing.T, w *attempts.Window, key string, now time.Time, maxDelay time.Duration) (bool, time.Duration, bool) {
	t.Helper()
	id, wait, first, err := w.Reserve(context.Background(), key, now, maxDelay)
	if err != nil {
		t.Fatal(err)
	}
	return id != "", wait, first
}

func TestHardLimitRefusesPastTheLimitUntilAttemptsAgeOut(t *testing.T) {
	w := newWindow(t, 3, time.Minute)
	now := testkit.NewClock().Now()
	for i := 0; i < 3; i++ {
		if ok, _, _ := reserve(t, w, "203.0.113.5", now.Add(time.Duration(i)*time.Second), 0); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	ok, wait, first := reserve(t, w, "203.0.113.5", now.Add(10*time.Second), 0)
	if ok || wait != 50*time.Second || !first {
		t.Fatalf("4th attempt: reserved %v, wait %v, first %v; want refused, 50s, first", ok, wait, first)
	}
	if _, _, first := reserve(t, w, "203.0.113.5", now.Add(11*time.Second), 0); first {
		t.Fatal("a second refusal in the window is reported as the first")
	}
	if ok, _, _ := reserve(t, w, "198.51.100.7", now.Add(11*time.Second), 0); !ok {
		t.Fatal("another key is limited too")
	}
	if ok, _, _ := reserve(t, w, "203.0.113.5", now.Add(time.Minute), 0); !ok {
		t.Fatal("still refused once the oldest attempt left the window")
	}
}

func TestReleaseGivesAnAttemptBack(t *testing.T) {
	w := newWindow(t, 1, time.Minute)
	now := testkit.NewClock().Now()
	id, _, _, err := w.Reserve(context.Background(), "k", now, 0)
	if err != nil || id == "" {
		t.Fatalf("reserve: %q, %v", id, err)
	}
	if ok, _, _ := reserve(t, w, "k", now, 0); ok {
		t.Fatal("reserved past the limit")
	}
	if err := w.Release(context.Background(), "k", id); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := reserve(t, w, "k", now, 0); !ok {
		t.Fatal("a released attempt still counts")
	}
}

func TestBackoffDoublesTheDelayUpToItsMaximum(t *testing.T) {
	w := newWindow(t, 2, 15*time.Minute)
	clock := testkit.NewClock()
	const maxDelay = 8 * time.Second
	for i := 0; i < 2; i++ {
		if ok, _, _ := reserve(t, w, "ops@acme.example", clock.Now(), maxDelay); !ok {
			t.Fatalf("free attempt %d refused", i+1)
		}
	}
	for _, delay := range []time.Duration{1, 2, 4, 8, 8, 8} {
		delay *= time.Second
		ok, wait, _ := reserve(t, w, "ops@acme.example", clock.Now().Add(delay-time.Millisecond), maxDelay)
		if ok || wait != time.Millisecond {
			t.Fatalf("an attempt 1 ms early: reserved %v, wait %v", ok, wait)
		}
		clock.Advance(delay)
		if ok, _, _ := reserve(t, w, "ops@acme.example", clock.Now(), maxDelay); !ok {
			t.Fatalf("refused after the %v delay", delay)
		}
	}
	t.Run("a key quiet for a window starts afresh", func(t *testing.T) {
		clock.Advance(15 * time.Minute)
		for i := 0; i < 2; i++ {
			if ok, _, _ := reserve(t, w, "ops@acme.example", clock.Now(), maxDelay); !ok {
				t.Fatalf("free attempt %d refused after a quiet window", i+1)
			}
		}
	})
	t.Run("Reset forgets the attempts", func(t *testing.T) {
		if err := w.Reset(context.Background(), "ops@acme.example"); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := reserve(t, w, "ops@acme.example", clock.Now(), maxDelay); !ok {
			t.Fatal("refused after Reset")
		}
	})
}

// Reserving is atomic: however many attempts arrive at once, no more than
// the limit are reserved.
func TestConcurrentAttemptsNeverExceedTheLimit(t *testing.T) {
	for _, c := range []struct {
		name     string
		maxDelay time.Duration
	}{{"hard limit", 0}, {"backoff", time.Minute}} {
		t.Run(c.name, func(t *testing.T) {
			w := newWindow(t, 5, 15*time.Minute)
			now := testkit.NewClock().Now()
			var reserved atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id, _, _, err := w.Reserve(context.Background(), "k", now, c.maxDelay)
					if err != nil {
						t.Error(err)
					}
					if id != "" {
						reserved.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := reserved.Load(); n != 5 {
				t.Fatalf("%d of 50 concurrent attempts reserved, want 5", n)
			}
		})
	}
}
