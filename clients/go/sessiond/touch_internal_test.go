package sessiond

import (
	"testing"
	"time"
)

// TestTouchEvery: how often a cached session in use slides sessiond's idle
// deadline, for the idle timeouts a policy gives.
func TestTouchEvery(t *testing.T) {
	for _, c := range []struct {
		idle int
		want time.Duration
	}{
		{0, 5 * time.Second},     // unknown: the stream's interval
		{1800, 30 * time.Second}, // the default 30 minutes: a sixtieth
		{86400, time.Minute},     // a day (remember-me): at most a minute
		{300, 5 * time.Second},   // the stream's interval, longer than a sixtieth
		{20, 2 * time.Second},    // a tenth: sessiond's own interval for recording a use
	} {
		if got := touchEvery(5*time.Second, c.idle); got != c.want {
			t.Errorf("touchEvery(5s, %d) = %v, want %v", c.idle, got, c.want)
		}
	}
}
