package tenants

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testkit"
)

// after never answers from a read that started before the call, shares one
// read among the callers that arrived while another ran, and starts reads
// of one key at least gap apart however often it is called.
func TestCoalescerAfterReadsOnlyAfterTheCallAndAtMostOncePerGap(t *testing.T) {
	const gap = 20 * time.Millisecond
	g := newCoalescer[int64](time.Hour, time.Now)
	var reads atomic.Int64
	var mu sync.Mutex
	var starts []time.Time
	release := make(chan struct{})
	read := func(context.Context) (int64, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		n := reads.Add(1)
		if n == 1 {
			<-release
		}
		return n, nil
	}

	// Read 1 is under way (and, through do, reusable for an hour) when
	// eight callers of after arrive: none may take it.
	first := make(chan int64)
	go func() { v, _ := g.do("t", read); first <- v }()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg, ready sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Add(1)
		ready.Add(1)
		go func() { defer wg.Done(); ready.Done(); got[i], _ = g.after("t", gap, read) }()
	}
	ready.Wait()
	time.Sleep(50 * time.Millisecond) // let them arrive while read 1 runs
	close(release)
	wg.Wait()
	if v := <-first; v != 1 {
		t.Fatalf("do answered read %d, want 1", v)
	}
	for i, v := range got {
		if v != 2 {
			t.Fatalf("caller %d of after got read %d, want the shared read 2", i, v)
		}
	}
	if v, _ := g.do("t", read); v != 2 {
		t.Fatalf("do after them answered read %d, want the newest, 2", v)
	}

	for range 5 {
		g.after("t", gap, read)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 7 {
		t.Fatalf("%d reads, want 7", len(starts))
	}
	for i := 2; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d < gap {
			t.Fatalf("reads %d and %d started %s apart, less than the gap %s", i, i+1, d, gap)
		}
	}
}

// do reuses a finished read only while it is fresh on the cache's clock as
// well as in real time: the staleness bound is measured on that clock, so a
// read made before it moved past the bound must not answer after.
func TestCoalescerDoReusesAReadOnlyWhileFreshOnTheClock(t *testing.T) {
	clock := testkit.NewClock()
	g := newCoalescer[int64](time.Hour, clock.Now)
	var reads atomic.Int64
	read := func(context.Context) (int64, error) { return reads.Add(1), nil }
	if v, _ := g.do("t", read); v != 1 {
		t.Fatalf("first do = read %d", v)
	}
	clock.Advance(59 * time.Minute)
	if v, _ := g.do("t", read); v != 1 {
		t.Fatalf("within fresh on the clock, do = read %d, want the reused 1", v)
	}
	clock.Advance(time.Minute)
	if v, _ := g.do("t", read); v != 2 {
		t.Fatalf("fresh elapsed on the clock (not in real time), do = read %d, want a new read 2", v)
	}
}
