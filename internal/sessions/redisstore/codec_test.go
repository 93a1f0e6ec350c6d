package redisstore_test

import (
	"context"
	"encoding/hex"
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
// the two codecs agree on every field and every encoding, starting with
// the stored fixtures.
func TestCodecAgreesWithLua(t *testing.T) {
	rdb := testkit.Redis(t)
	roundTrip := redis.NewScript(redisstore.CommonLua + "return encode(decode(ARGV[1]))")
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		rec := randomRecord(r)
		if i < len(storedFixtures) {
			rec = storedFixtures[i].rec
		}
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

// The stored bytes of two sessions, written by an earlier release: they must
// keep decoding to the same records, and encode to the same bytes, whatever
// generates the codec.
var storedFixtures = []struct {
	hex string
	rec sessions.Record
}{
	{
		// An anonymous session: auth_time unset, no device IP, empty data.
		hex: "9ea0cf000001939ca6d70000ffce05265c00cd0708ce001b774001b26b5f30313233343536373839616263646566a0a0a0a0a27b7d",
		rec: sessions.Record{
			CreatedAt: 1_733_500_000_000, LastSeenAt: 1_733_500_000_000, ExpiresAt: 1_733_500_000_000 + 86_400_000,
			IdleTimeout: 1800, IdleExpiresAt: 1_733_500_000_000 + 1_800_000, Version: 1, KeyID: "k_0123456789abcdef",
			Data: "{}",
		},
	},
	{
		// A user's session: every field set, an IPv6 device, a user agent
		// of the str8 class, integers of several widths.
		hex: "9ea5616c696365cf000001939ca6d700ce00011170ccc8ce9a7ec800cd012cce0005a550ce00011170b26b5f66656463626139383736353433323130d9464d6f7a696c6c612f352e3020285831313b204c696e7578207838365f36343b2072763a3133332e3029204765636b6f2f32303130303130312046697265666f782f3133332e30b020010db8000100020000000000000001a620010db80001b046697265666f78206f6e204c696e7578bb7b2263617274223a332c226c6f63616c65223a22656e2d4742227d",
		rec: sessions.Record{
			UserID: "alice", CreatedAt: 1_733_500_000_000, LastSeenAt: 1_733_500_000_000 + 70_000,
			AuthTime: 1_733_500_000_000 + 200, ExpiresAt: 1_733_500_000_000 + 30*86_400_000,
			IdleTimeout: 300, IdleExpiresAt: 1_733_500_000_000 + 370_000, Version: 70_000, KeyID: "k_fedcba9876543210",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
			IP:        "2001:db8:1:2::1", IPBinding: "\x20\x01\x0d\xb8\x00\x01", Label: "Firefox on Linux",
			Data: `{"cart":3,"locale":"en-GB"}`,
		},
	},
}

func TestCodecReadsStoredBytes(t *testing.T) {
	for i, f := range storedFixtures {
		b, err := hex.DecodeString(f.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := redisstore.DecodeRecord(string(b))
		if err != nil || got != f.rec {
			t.Errorf("fixture %d: decoded %+v, %v; want %+v", i, got, err, f.rec)
		}
		if enc := hex.EncodeToString([]byte(redisstore.EncodeRecord(f.rec))); enc != f.hex {
			t.Errorf("fixture %d: encoded %s, want %s", i, enc, f.hex)
		}
	}
}

// BenchmarkCodec measures encoding and decoding one session with device
// information (what create and every verify reply cost in Go):
//
//	go test -run '^$' -bench Codec -benchmem ./internal/sessions/redisstore/
func BenchmarkCodec(b *testing.B) {
	rec := storedFixtures[1].rec
	v := redisstore.EncodeRecord(rec)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = redisstore.EncodeRecord(rec)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := redisstore.DecodeRecord(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
