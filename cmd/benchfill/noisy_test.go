package main

import (
	"strings"
	"testing"
)

func TestDataOfIsExactSizeJSON(t *testing.T) {
	for _, n := range []int{11, 12, 45, 1 << 20} {
		d := dataOf(n)
		if len(d) != n || !strings.HasPrefix(d, `{"blob":"`) || !strings.HasSuffix(d, `"}`) {
			t.Fatalf("dataOf(%d) is %d bytes: %.20q…", n, len(d), d)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"} {
		if err := loopback(u); err != nil {
			t.Errorf("loopback(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com", "http://0.0.0.0:80"} {
		if loopback(u) == nil {
			t.Errorf("loopback(%q) = nil, want an error", u)
		}
	}
}

func TestForgedTokenKeepsTheTemplatesShape(t *testing.T) {
	tpl := "sab_" + strings.Repeat("a", 60)
	f := forgedToken(tpl)
	if len(f) != len(tpl) || f[:len(tpl)-16] != tpl[:len(tpl)-16] || f == tpl {
		t.Fatalf("forgedToken(%q) = %q", tpl, f)
	}
	if len(forgedToken("")) != 64 {
		t.Fatalf("forgedToken without a template: %q", forgedToken(""))
	}
}

// ceilingPut accepts a policy whose max_sessions_per_user is 1..ceiling
// (0 refused), like a version with an operator ceiling.
func ceilingPut(ceiling int64, calls *int) func(map[string]any) (bool, error) {
	return func(p map[string]any) (bool, error) {
		*calls++
		v, _ := p["max_sessions_per_user"].(int64)
		return v >= 1 && v <= ceiling, nil
	}
}

func TestHighestAcceptedFindsTheCeiling(t *testing.T) {
	for _, ceiling := range []int64{1, 2, 999, 1000, 7777} {
		calls := 0
		pol := map[string]any{"max_sessions_per_user": float64(0)}
		v, note, err := highestAccepted(pol, "max_sessions_per_user", 10000, true, ceilingPut(ceiling, &calls))
		if err != nil || v != ceiling || note == "" {
			t.Fatalf("ceiling %d: got %d, %q, %v", ceiling, v, note, err)
		}
		if calls > 20 {
			t.Fatalf("ceiling %d: %d PUTs", ceiling, calls)
		}
	}
}

func TestHighestAcceptedTakesZeroOrTheMaximumFirst(t *testing.T) {
	calls := 0
	zeroOK := func(map[string]any) (bool, error) { calls++; return true, nil }
	v, note, err := highestAccepted(map[string]any{}, "max_sessions_per_user", 10000, true, zeroOK)
	if err != nil || v != 0 || note != "" || calls != 1 {
		t.Fatalf("zero accepted: got %d, %q, %v after %d PUTs", v, note, err, calls)
	}
	calls = 0
	v, note, err = highestAccepted(map[string]any{}, "max_sessions_per_user", 10000, false, ceilingPut(10000, &calls))
	if err != nil || v != 10000 || note != "" || calls != 1 {
		t.Fatalf("maximum accepted: got %d, %q, %v after %d PUTs", v, note, err, calls)
	}
}
