package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// hmacSHA256 is crypto/hmac's HMAC-SHA-256 for keys and messages of every
// length around the block and buffer sizes, and it allocates nothing for
// a token's.
func TestHMACIsCryptoHMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for _, keyLen := range []int{0, 1, 31, 32, 33, 63, 64, 65, 128, 200} {
		for _, msgLen := range []int{0, 1, 55, 56, 64, 100, maxTokenLen, maxTokenLen + 1, 1000} {
			key, msg := bytes(keyLen), bytes(msgLen)
			h := hmac.New(sha256.New, key)
			h.Write(msg)
			want := h.Sum(nil)
			if got := hmacSHA256(key, msg); !hmac.Equal(got[:], want) {
				t.Fatalf("key %d bytes, message %d bytes ([]byte): %x, want %x", keyLen, msgLen, got, want)
			}
			if got := hmacSHA256(key, string(msg)); !hmac.Equal(got[:], want) {
				t.Fatalf("key %d bytes, message %d bytes (string): %x, want %x", keyLen, msgLen, got, want)
			}
		}
	}
	key, nonce := bytes(32), bytes(nonceSize)
	if n := testing.AllocsPerRun(100, func() {
		tok, _ := parseToken(signToken("k_7fq2m4xxa3vbn5cd", key, 7, nonce))
		_ = tok.authentic(key)
	}); n > 5 { // the token and its string, the parser's three
		t.Errorf("signing and authenticating a token: %v allocations", n)
	}
}
