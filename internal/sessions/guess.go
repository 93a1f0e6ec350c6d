package sessions

import (
	"sync"
	"time"
)

// guessLimiter counts invalid tokens per (tenant, source IP) over a sliding
// window, in this instance's memory: no Redis, so forged tokens stay free of
// store commands. A source that presented limit invalid tokens within the
// window is refused until the oldest of them leaves the window.
type guessLimiter struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	sources map[string]*guessSource
	swept   time.Time
}

type guessSource struct {
	failures []time.Time // oldest first, at most limit entries
	notified time.Time   // when the last rate_limited event was recorded
}

// maxGuessSources bounds the limiter's memory; beyond it, idle sources are
// swept and, if that is not enough, the table restarts empty.
const maxGuessSources = 100_000

func newGuessLimiter(limit int, window time.Duration) *guessLimiter {
	return &guessLimiter{limit: limit, window: window, sources: map[string]*guessSource{}}
}

func guessKey(tenantID, ip string) string { return tenantID + "\x00" + ip }

// blocked reports whether the source is over its limit at now, and whether
// this is the first refusal of the current window (to record one event).
func (g *guessLimiter) blocked(tenantID, ip string, now time.Time) (blocked, firstInWindow bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[guessKey(tenantID, ip)]
	if s == nil {
		return false, false
	}
	s.trim(now, g.window)
	if len(s.failures) < g.limit {
		return false, false
	}
	if s.notified.IsZero() || now.Sub(s.notified) >= g.window {
		s.notified = now
		return true, true
	}
	return true, false
}

// fail counts one invalid token from the source.
func (g *guessLimiter) fail(tenantID, ip string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := guessKey(tenantID, ip)
	s := g.sources[k]
	if s == nil {
		if len(g.sources) >= maxGuessSources {
			g.sweepLocked(now)
		}
		s = &guessSource{}
		g.sources[k] = s
	}
	s.trim(now, g.window)
	if len(s.failures) >= g.limit {
		s.failures = s.failures[1:]
	}
	s.failures = append(s.failures, now)
	if now.Sub(g.swept) >= g.window {
		g.sweepLocked(now)
	}
}

// trim forgets failures that left the window.
func (s *guessSource) trim(now time.Time, window time.Duration) {
	i := 0
	for i < len(s.failures) && now.Sub(s.failures[i]) >= window {
		i++
	}
	s.failures = s.failures[i:]
}

func (g *guessLimiter) sweepLocked(now time.Time) {
	g.swept = now
	for k, s := range g.sources {
		s.trim(now, g.window)
		if len(s.failures) == 0 && now.Sub(s.notified) >= g.window {
			delete(g.sources, k)
		}
	}
	if len(g.sources) >= maxGuessSources {
		g.sources = map[string]*guessSource{}
	}
}
