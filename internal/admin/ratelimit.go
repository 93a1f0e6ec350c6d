package admin

import (
	"sync"
	"time"
)

// slidingWindow counts failures per key over the last window. It lives in
// this instance's memory, as the engine's guess limiter does: behind N
// instances an attacker gets at most N times the limit.
type slidingWindow struct {
	limit  int
	window time.Duration

	mu   sync.Mutex
	hits map[string][]time.Time
	// reported remembers the keys whose block was already recorded as an
	// event, until their window passes.
	reported map[string]time.Time
}

func newSlidingWindow(limit int, window time.Duration) *slidingWindow {
	return &slidingWindow{limit: limit, window: window, hits: map[string][]time.Time{}, reported: map[string]time.Time{}}
}

// blocked reports whether key has reached the limit at now, and whether this
// is the first refusal of the window (to be recorded as an event).
func (s *slidingWindow) blocked(key string, now time.Time) (blocked, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hits := s.trimLocked(key, now)
	if len(hits) < s.limit {
		return false, false
	}
	if at, ok := s.reported[key]; ok && now.Sub(at) < s.window {
		return true, false
	}
	s.reported[key] = now
	return true, true
}

// fail counts one failure of key.
func (s *slidingWindow) fail(key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hits) > 10000 {
		s.sweepLocked(now)
	}
	s.hits[key] = append(s.trimLocked(key, now), now)
}

// reset forgets key's failures (after a successful sign-in).
func (s *slidingWindow) reset(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.hits, key)
	delete(s.reported, key)
}

func (s *slidingWindow) trimLocked(key string, now time.Time) []time.Time {
	hits := s.hits[key]
	i := 0
	for i < len(hits) && now.Sub(hits[i]) >= s.window {
		i++
	}
	hits = hits[i:]
	if len(hits) == 0 {
		delete(s.hits, key)
		return nil
	}
	s.hits[key] = hits
	return hits
}

func (s *slidingWindow) sweepLocked(now time.Time) {
	for k := range s.hits {
		s.trimLocked(k, now)
	}
	for k, at := range s.reported {
		if now.Sub(at) >= s.window {
			delete(s.reported, k)
		}
	}
}
