package sessions_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// A session's times are JSON as time.Time writes them, byte for byte, and
// read back; a time JSON cannot hold fails as it does. They are written
// from MarshalText (which encoding/json does not scan again).
func TestTimeIsJSONAsTimeTime(t *testing.T) {
	if _, ok := any(sessions.Time{}).(json.Marshaler); ok {
		t.Fatal("sessions.Time has a MarshalJSON")
	}
	for _, at := range []time.Time{
		time.UnixMilli(1_796_000_000_123).UTC(),
		time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.FixedZone("", 2*3600)),
		{},
	} {
		want, err := json.Marshal(map[string]any{"at": at, "p": &at})
		if err != nil {
			t.Fatal(err)
		}
		st := sessions.Time{Time: at}
		got, err := json.Marshal(map[string]any{"at": st, "p": &st})
		if err != nil || string(got) != string(want) {
			t.Fatalf("%v: %s, %v; want %s", at, got, err, want)
		}
		var back struct{ At sessions.Time }
		if err := json.Unmarshal(got, &back); err != nil || !back.At.Equal(at) {
			t.Fatalf("%s read back as %v, %v", got, back.At, err)
		}
	}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := json.Marshal(sessions.Time{Time: far}); err == nil {
		t.Fatal("year 10000 encoded")
	}
}
