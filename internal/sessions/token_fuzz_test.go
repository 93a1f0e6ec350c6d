package sessions

// This file is an internal test: the token parser is unexported.

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/secrets"
)

func FuzzParseToken(f *testing.F) {
	secret := secrets.Random(32)
	valid := signToken("k_abcdefghijklmnop", secret, 1023, secrets.Random(nonceSize))
	for _, seed := range []string{
		valid,
		valid[:len(valid)-1],
		valid + "A",
		strings.Replace(valid, "v1.", "v2.", 1),
		strings.Replace(valid, ".", "..", 1),
		"v1....",
		"v1.k_x.aa." + strings.Repeat("A", 43) + "." + strings.Repeat("A", 43),
		"v1.k_x.aa." + strings.Repeat("_", 43) + "." + strings.Repeat("-", 43),
		"v1.k_x.a1." + strings.Repeat("A", 43) + "." + strings.Repeat("A", 43),
		"v1.k{x}.aa." + strings.Repeat("A", 43) + "." + strings.Repeat("A", 43),
		"",
		".",
		"v1",
		strings.Repeat("v1.", 100),
		"v1.k_x.aa.\xff\xfe." + strings.Repeat("A", 43),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := parseToken(s)
		if !ok {
			return
		}
		// Whatever parses is canonical: it re-encodes to the input, and
		// yields a well-formed session id.
		if len(tok.nonce) != nonceSize || len(tok.mac) != macSize || tok.bucket < 0 || tok.bucket >= NumBuckets {
			t.Fatalf("parsed %q into bad parts", s)
		}
		if got := tok.signed + "." + b64.EncodeToString(tok.mac); got != s {
			t.Fatalf("parse of %q is not canonical: %q", s, got)
		}
		if id := sessionID(tok.bucket, tok.nonce); !ValidSessionID(id) {
			t.Fatalf("session id %q", id)
		}
		if tok.authentic(nil) {
			t.Fatal("authentic without a secret")
		}
	})
}

func TestParseTokenAcceptsWhatSignTokenMakes(t *testing.T) {
	secret := secrets.Random(32)
	for b := range Bucket(NumBuckets) {
		nonce := secrets.Random(nonceSize)
		s := signToken("k_abcdefghijklmnop", secret, b, nonce)
		tok, ok := parseToken(s)
		if !ok || tok.bucket != b || !tok.authentic(secret) || tok.authentic(secrets.Random(32)) {
			t.Fatalf("bucket %d: ok=%v", b, ok)
		}
		if id := sessionID(b, nonce); id[1:3] != b.String() || !ValidSessionID(id) {
			t.Fatalf("id %s", id)
		}
	}
}

func TestUserBucketIsStableAndSpread(t *testing.T) {
	seen := map[Bucket]bool{}
	for i := range 5000 {
		b := userBucket("tn_a", string(rune('a'+i%26))+strings.Repeat("x", i%40)+string(rune(i)))
		if b < 0 || b >= NumBuckets {
			t.Fatalf("bucket %d", b)
		}
		seen[b] = true
	}
	if len(seen) < 900 {
		t.Fatalf("only %d buckets used", len(seen))
	}
	if a := userBucket("tn_a", "alice"); a == userBucket("tn_b", "alice") && a == userBucket("tn_c", "alice") {
		t.Fatal("a user's bucket does not depend on the tenant")
	}
}
