package sessions

import (
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
type guessLimiter struct {
	window time.Duration

	mu      sync.Mutex
	sources map[string]*guessCount
	swept   time.Time
}

type guessCount struct {
	failures []time.Time // oldest first, at most the source's limit
	refused  int         // refusals in the current run of refusals
}

// maxGuessSources bounds the limiter's memory; beyond it, idle sources are
// swept and, if that is not enough, the table restarts empty.
const maxGuessSources = 100_000

func newGuessLimiter(window time.Duration) *guessLimiter {
	return &guessLimiter{window: window, sources: map[string]*guessCount{}}
}

// forged counts one forged token from (tenantID, source) and reports
// whether it must be refused (the source already presented limit forgeries
// within the window) and, if so, how many refusals this run of refusals
// holds so far, counting this one.
func (g *guessLimiter) forged(tenantID string, source GuessSource, addr string, limit int, now time.Time) (refused bool, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.swept) >= g.window || len(g.sources) >= maxGuessSources {
		g.sweepLocked(now)
	}
	k := tenantID + "\x00" + string(source) + "\x00" + addr
	s := g.sources[k]
	if s == nil {
		s = &guessCount{}
		g.sources[k] = s
	}
	s.trim(now, g.window)
	if len(s.failures) >= limit {
		s.refused++
		return true, s.refused
	}
	s.refused = 0
	s.failures = append(s.failures, now)
	return false, 0
}

// trim forgets failures that left the window.
func (s *guessCount) trim(now time.Time, window time.Duration) {
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
		if len(s.failures) == 0 {
			delete(g.sources, k)
		}
	}
	if len(g.sources) >= maxGuessSources {
		g.sources = map[string]*guessCount{}
	}
}

// reportRefusal reports whether the n-th refusal of a run gets an event:
// the first, then every power of two, so a flood costs a logarithmic number
// of events and the last one still tells how many calls were refused
// (within a factor of two; the metrics count every one).
func reportRefusal(n int) bool { return n > 0 && n&(n-1) == 0 }
