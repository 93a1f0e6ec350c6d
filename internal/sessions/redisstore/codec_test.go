package redisstore_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/testkit"
)

// randomRecord returns a session as the engine could store it: canonical
// IPs, auth_time unset or at/after created_at, deadlines around ca, strings
// of every msgpack length class.
func randomRecord(r *rand.Rand) sessions.Record {
	ca := 1_700_000_000_000 + r.Int64N(1<<40)
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	rec := sessions.Record{
		UserID:        pick("", "alice", "u-"+strings.Repeat("x", 120)),
		CreatedAt:     ca,
		LastSeenAt:    ca + r.Int64N(3)*r.Int64N(1<<34),
		ExpiresAt:     ca + 1000 + r.Int64N(1<<36),
		IdleTimeout:   1 + r.Int64N(1<<22),
		IdleExpiresAt: ca + r.Int64N(1<<36),
		UserAgent:     pick("", "curl/8", strings.Repeat("Mozilla/5.0 ", 1+r.IntN(90))),
		Label:         pick("", "Chrome 126 on macOS"),
		Data:          pick("{}", `{"cart":3}`, `{"pad":"`+strings.Repeat("p", r.IntN(70000))+`"}`),
		Version:       1 + r.Int64N(1<<33),
		KeyID:         "k_abcdefghijklmnop",
	}
	if r.IntN(2) == 0 {
		rec.AuthTime = ca + r.Int64N(3)*r.Int64N(1<<30)
	}
	switch r.IntN(3) {
	case 1:
		rec.IP, rec.IPBinding = "203.0.113.42", "\xcb\x00\x71"
	case 2:
		rec.IP, rec.IPBinding = "2001:db8:1:2::1", "\x20\x01\x0d\xb8\x00\x01"
	}
	return rec
}

func TestCodecRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		rec := randomRecord(r)
		got, err := redisstore.DecodeRecord(redisstore.EncodeRecord(rec))
		if err != nil || got != rec {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", rec, got, err)
		}
	}
}

func TestCodecRejectsWhatIsNotASession(t *testing.T) {
	rec := randomRecord(rand.New(rand.NewPCG(3, 4)))
	rec.UserID = "" // one byte: 0xa0
	good := redisstore.EncodeRecord(rec)
	for name, v := range map[string]string{
		"empty":           "",
		"truncated":       good[:len(good)-1],
		"trailing bytes":  good + "\x00",
		"13 fields":       "\x9d" + good[1:],
		"a map":           "\x8e" + good[1:],
		"a hash's fields": "uid\x00alice",
		"a nil uid":       good[:1] + "\xc0" + good[2:],
		"a float ca":      good[:2] + "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00" + good[11:],
	} {
		if _, err := redisstore.DecodeRecord(v); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// Lua's cmsgpack reads what Go writes, and writes back the same bytes:
// the two codecs agree on every field and every encoding.
func TestCodecAgreesWithLua(t *testing.T) {
	rdb := testkit.Redis(t)
	roundTrip := redis.NewScript(redisstore.CommonLua + "return encode(decode(ARGV[1]))")
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		rec := randomRecord(r)
		v := redisstore.EncodeRecord(rec)
		got, err := roundTrip.Run(context.Background(), rdb, nil, v).Text()
		if err != nil {
			t.Fatal(err)
		}
		if got != v {
			dec, _ := redisstore.DecodeRecord(got)
			t.Fatalf("Lua re-encoded %+v as %+v (%q, want %q)", rec, dec, got, v)
		}
	}
}
