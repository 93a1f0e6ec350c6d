package events_test

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/events"
)

func TestSanitized(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	manyDetails := map[string]string{}
	for i := range 40 {
		manyDetails[fmt.Sprintf("k%02d", i)] = "v"
	}
	firstDetails := map[string]string{}
	for i := range events.MaxDetailEntries {
		firstDetails[fmt.Sprintf("k%02d", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		in, out events.Event
	}{
		{"a clean event is unchanged",
			events.Event{TenantID: "tn_a", Type: events.SessionCreated, UserID: "alice", SessionID: "sab_x", IP: "203.0.113.7",
				UserAgent: "Mozilla/5.0 (X11) Firefox/133.0 ½", Actor: "api_key:ak_x", Detail: map[string]string{"reason": "forged"}},
			events.Event{TenantID: "tn_a", Type: events.SessionCreated, UserID: "alice", SessionID: "sab_x", IP: "203.0.113.7",
				UserAgent: "Mozilla/5.0 (X11) Firefox/133.0 ½", Actor: "api_key:ak_x", Detail: map[string]string{"reason": "forged"}}},
		{"a run of invalid bytes becomes one U+FFFD, each NUL one U+FFFD",
			events.Event{UserAgent: "a\xff\xfe\xfdb\x00\x00c"},
			events.Event{UserAgent: "a\uFFFDb\uFFFD\uFFFDc"}},
		{"a long field is cut to its bound",
			events.Event{TenantID: long(300), Type: events.Type(long(100)), UserID: long(300), SessionID: long(300),
				IP: long(100), UserAgent: long(2000), Actor: long(400)},
			events.Event{TenantID: long(events.MaxIDBytes), Type: events.Type(long(events.MaxTypeBytes)), UserID: long(events.MaxIDBytes),
				SessionID: long(events.MaxIDBytes), IP: long(events.MaxIPBytes), UserAgent: long(events.MaxUserAgentBytes), Actor: long(events.MaxActorBytes)}},
		{"a cut never splits a rune",
			events.Event{UserAgent: "ab" + strings.Repeat("€", 200)},  // 2 + 600 bytes
			events.Event{UserAgent: "ab" + strings.Repeat("€", 170)}}, // 2 + 510 bytes
		{"detail keys and values are cleaned and cut",
			events.Event{Detail: map[string]string{"re\x00ason": "x\xff", long(100): long(1000)}},
			events.Event{Detail: map[string]string{"re\uFFFDason": "x\uFFFD", long(events.MaxDetailKeyBytes): long(events.MaxDetailValueBytes)}}},
		{"detail keys that become equal keep the first in key order",
			events.Event{Detail: map[string]string{"k\xfe": "first", "k\xff": "second"}},
			events.Event{Detail: map[string]string{"k\uFFFD": "first"}}},
		{"detail keeps its first entries in key order",
			events.Event{Detail: manyDetails},
			events.Event{Detail: firstDetails}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in
			before.Detail = maps.Clone(tc.in.Detail)
			got := tc.in.Sanitized()
			if !reflect.DeepEqual(got, tc.out) {
				t.Errorf("Sanitized() = %+v,\nwant %+v", got, tc.out)
			}
			if !reflect.DeepEqual(tc.in, before) {
				t.Errorf("the event itself was changed: %+v", tc.in)
			}
			for _, s := range []string{got.TenantID, string(got.Type), got.UserID, got.SessionID, got.IP, got.UserAgent, got.Actor} {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Errorf("%q is not clean", s)
				}
			}
		})
	}
}
