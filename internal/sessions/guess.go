package sessions

import (
	"container/list"
	"sync"
	"time"
)

// Guessing. Only a forged token is a guess: tokens carry 256 random bits and
// an HMAC-SHA-256 under the tenant's key, so a token whose MAC verifies was
// minted by sessiond (revoked, expired or unknown sessions are stale, not
// guessed). Forgeries are counted per end user, and what is refused past the
// limit is only further forgeries from that source: a token with a valid MAC
// is never refused because of anybody's bad tokens, including its own
// source's. So one user's junk cookie can never lock out the other users of
// an app whose every verify comes from the same server IP.
//
// The source is the end user's device IP that the app passes
// (device.ip on verify). When the app passes none, the source is the API
// caller's IP with a much higher budget: every verify of a server-side app
// comes from its own IP, so that budget is for detection, not to slow one
// user down.

// GuessSource names what invalid tokens are counted against.
type GuessSource string

const (
	// GuessByDeviceIP counts against the end user's IP (device.ip).
	GuessByDeviceIP GuessSource = "device_ip"
	// GuessByCallerIP counts against the API caller's IP, when the app sent
	// no device.ip.
	GuessByCallerIP GuessSource = "caller_ip"
)

// Default guess limits: forged tokens a minute from one source.
const (
	DefaultGuessLimit          = 30
	DefaultGuessLimitPerCaller = 1000
)

// guessWindow is the sliding window of the guess limits.
const guessWindow = time.Minute

// guessLimiter counts forged tokens per (tenant, source) over a sliding
// window, in this instance's memory: no Redis, so forgeries stay free of
// store commands.
//
// Its memory is bounded per tenant and in total, and the bounds are fair:
// each tenant keeps its sources in its own least-recently-used order. A new
// source of a tenant that holds perTenant sources evicts that tenant's
// least recently used one; when the whole table holds total sources, the
// tenant holding the most gives up its least recently used one. So one
// tenant's flood of random sources only ever evicts its own (or, once it
// holds the most, its own again), and a source being throttled stays at
// the front of its tenant's order as long as it keeps guessing. The table is
// never reset.
type guessLimiter struct {
	window           time.Duration
	perTenant, total int

	mu      sync.Mutex
	tenants map[string]*tenantGuesses
	size    int // sources in all tenants
}

// tenantGuesses is one tenant's sources, most recently used first.
type tenantGuesses struct {
	sources map[string]*list.Element // of *guessCount
	order   *list.List
}

type guessCount struct {
	key      string
	failures []time.Time // oldest first, at most the source's limit
	refused  int         // refusals in the current run of refusals
}

// Default bounds of the guess limiter's table.
const (
	maxGuessSourcesPerTenant = 10_000
	maxGuessSources          = 100_000
	// idleSweep is how many idle sources (no failure left in the window)
	// a new source drops from its tenant's cold end, so idle entries go
	// without a periodic sweep: O(1) per call.
	idleSweep = 2
)

func newGuessLimiter(window time.Duration, perTenant, total int) *guessLimiter {
	return &guessLimiter{window: window, perTenant: perTenant, total: total, tenants: map[string]*tenantGuesses{}}
}

// forged counts one forged token from (tenantID, source) and reports
// whether it must be refused (the source already presented limit forgeries
// within the window) and, if so, how many refusals this run of refusals
// holds so far, counting this one. It takes O(1) time, except when the
// whole table is full: then it also scans the tenants to find the one
// holding the most sources (O(tenants with sources)).
func (g *guessLimiter) forged(tenantID string, source GuessSource, addr string, limit int, now time.Time) (refused bool, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.touch(tenantID, string(source)+"\x00"+addr, now)
	s.trim(now, g.window)
	if len(s.failures) >= limit {
		s.refused++
		return true, s.refused
	}
	s.refused = 0
	s.failures = append(s.failures, now)
	return false, 0
}

// touch returns the source's count, made most recently used, adding it
// (and making room for it) if it is new.
func (g *guessLimiter) touch(tenantID, key string, now time.Time) *guessCount {
	tg := g.tenants[tenantID]
	if tg == nil {
		tg = &tenantGuesses{sources: map[string]*list.Element{}, order: list.New()}
		g.tenants[tenantID] = tg
	}
	if el := tg.sources[key]; el != nil {
		tg.order.MoveToFront(el)
		return el.Value.(*guessCount)
	}
	g.makeRoom(tenantID, tg, now)
	s := &guessCount{key: key}
	tg.sources[key] = tg.order.PushFront(s)
	g.size++
	return s
}

// makeRoom frees a place for a new source of tenant tg: idle sources first,
// then its own least recently used one at its bound, then that of the
// tenant holding the most at the table's bound.
func (g *guessLimiter) makeRoom(tenantID string, tg *tenantGuesses, now time.Time) {
	for range idleSweep {
		el := tg.order.Back()
		if el == nil {
			break
		}
		if c := el.Value.(*guessCount); len(c.failures) > 0 && now.Sub(c.failures[len(c.failures)-1]) < g.window {
			break
		}
		g.evict(tg)
	}
	if len(tg.sources) >= g.perTenant {
		g.evict(tg)
		return
	}
	if g.size < g.total {
		return
	}
	biggest, most := tenantID, len(tg.sources)
	for id, other := range g.tenants {
		if len(other.sources) > most {
			biggest, most = id, len(other.sources)
		}
	}
	victim := g.tenants[biggest]
	g.evict(victim)
	if len(victim.sources) == 0 && biggest != tenantID {
		delete(g.tenants, biggest)
	}
}

// evict drops tg's least recently used source.
func (g *guessLimiter) evict(tg *tenantGuesses) {
	el := tg.order.Back()
	if el == nil {
		return
	}
	tg.order.Remove(el)
	delete(tg.sources, el.Value.(*guessCount).key)
	g.size--
}

// trim forgets failures that left the window.
func (s *guessCount) trim(now time.Time, window time.Duration) {
	i := 0
	for i < len(s.failures) && now.Sub(s.failures[i]) >= window {
		i++
	}
	s.failures = s.failures[i:]
}

// reportRefusal reports whether the n-th refusal of a run gets an event:
// the first, then every power of two, so a flood costs a logarithmic number
// of events and the last one still tells how many calls were refused
// (within a factor of two; the metrics count every one).
func reportRefusal(n int) bool { return n > 0 && n&(n-1) == 0 }
