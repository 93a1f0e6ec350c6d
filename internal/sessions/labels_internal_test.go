package sessions

import (
	"fmt"
	"testing"
)

// The label cache answers what its labeler answers, asks it once per user
// agent, and never holds more than maxCachedLabels of them.
func TestLabelCacheAsksOnceAndStaysBounded(t *testing.T) {
	calls := map[string]int{}
	c := newLabelCache(func(ua string) string { calls[ua]++; return "label of " + ua })
	for range 3 {
		if got := c.label("Firefox"); got != "label of Firefox" || calls["Firefox"] != 1 {
			t.Fatalf("label %q after %d calls of the labeler", got, calls["Firefox"])
		}
	}
	for i := range 3 * maxCachedLabels {
		ua := fmt.Sprintf("agent %d", i)
		if got := c.label(ua); got != "label of "+ua {
			t.Fatalf("label(%q) = %q", ua, got)
		}
	}
	n := 0
	c.labels.Range(func(_, _ any) bool { n++; return true })
	if n > maxCachedLabels {
		t.Fatalf("%d labels cached, at most %d", n, maxCachedLabels)
	}
}
