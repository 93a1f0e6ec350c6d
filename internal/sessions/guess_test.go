package sessions

import (
	"fmt"
	"testing"
	"time"
)

// The limiter's bounds evict fairly: a tenant at its own bound evicts its
// own least recently used source; at the table's bound, the tenant holding
// the most gives one up; a source that keeps guessing is never the one
// evicted, and the table is never reset.
func TestGuessLimiterEvictsLeastRecentlyUsedOfTheRightTenant(t *testing.T) {
	now := time.Now()
	const limit = 3
	g := newGuessLimiter(time.Minute, 100, 250)
	throttle := func(tenant, addr string) {
		t.Helper()
		for range limit {
			if refused, _ := g.forged(tenant, GuessByDeviceIP, addr, limit, now); refused {
				t.Fatalf("%s %s refused before its limit", tenant, addr)
			}
		}
	}
	refused := func(tenant, addr string) bool {
		r, _ := g.forged(tenant, GuessByDeviceIP, addr, limit, now)
		return r
	}
	throttle("tn_a", "attacker")
	throttle("tn_b", "attacker")
	if !refused("tn_a", "attacker") {
		t.Fatal("the attacker of A is not throttled")
	}

	t.Run("a tenant's flood evicts only its own least recently used sources", func(t *testing.T) {
		for i := range 1000 {
			g.forged("tn_c", GuessByDeviceIP, fmt.Sprint("c", i), limit, now)
			if i%50 == 0 && !refused("tn_b", "attacker") {
				t.Fatalf("B's attacker unthrottled after %d of C's sources", i)
			}
		}
		if n := len(g.tenants["tn_c"].sources); n != 100 {
			t.Fatalf("C holds %d sources, want its bound 100", n)
		}
		if _, ok := g.tenants["tn_c"].sources[string(GuessByDeviceIP)+"\x00c999"]; !ok {
			t.Fatal("C's newest source was evicted")
		}
		if _, ok := g.tenants["tn_c"].sources[string(GuessByDeviceIP)+"\x00c0"]; ok {
			t.Fatal("C's oldest source was kept")
		}
	})

	t.Run("at the table's bound the tenant holding the most gives up its least recently used", func(t *testing.T) {
		for i := range 99 {
			g.forged("tn_d", GuessByDeviceIP, fmt.Sprint("d", i), limit, now)
		}
		// 2 + 100 + 99 = 201 sources; E's 50 make one too many.
		for i := range 50 {
			g.forged("tn_e", GuessByDeviceIP, fmt.Sprint("e", i), limit, now)
		}
		if g.size != 250 {
			t.Fatalf("table holds %d sources, want 250", g.size)
		}
		if c, d := len(g.tenants["tn_c"].sources), len(g.tenants["tn_d"].sources); c != 99 || d != 99 {
			t.Fatalf("C holds %d and D %d, want 99 each (C gave up its oldest first)", c, d)
		}
		if !refused("tn_a", "attacker") || !refused("tn_b", "attacker") {
			t.Fatal("an attacker of a small tenant was evicted")
		}
	})

	t.Run("idle sources leave as new ones come", func(t *testing.T) {
		later := now.Add(2 * time.Minute)
		for i := range 10 {
			g.forged("tn_d", GuessByDeviceIP, fmt.Sprint("late", i), limit, later)
		}
		if n := len(g.tenants["tn_d"].sources); n != 99+10-2*10 {
			t.Fatalf("D holds %d sources, want %d (two idle ones dropped per new one)", n, 99+10-2*10)
		}
	})
}
