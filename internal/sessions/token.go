package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/sessiond/sessiond/internal/secrets"
)

// Token format (docs/architecture.md, "Session tokens and ids"):
//
//	"v1." kid "." bucket "." nonce "." mac
//
// nonce is 32 bytes from crypto/rand, mac is HMAC-SHA-256 over everything
// before the last dot; both are base64url without padding (43 characters).
const (
	tokenVersion = "v1"
	nonceSize    = 32
	macSize      = sha256.Size
	encodedLen   = 43 // base64url, no padding, of 32 bytes
	maxKidLen    = 64
	// maxTokenLen bounds the parser's work on hostile input.
	maxTokenLen = len(tokenVersion) + 1 + maxKidLen + 1 + 2 + 1 + encodedLen + 1 + encodedLen
)

// b64 rejects non-canonical encodings, so no two strings decode to the same
// mac or nonce.
var b64 = base64.RawURLEncoding.Strict()

// token is a parsed, not yet authenticated, session token.
type token struct {
	kid    string
	bucket Bucket
	nonce  []byte
	mac    []byte
	signed string // the part the mac covers
}

// parseToken splits s into its parts and checks their shapes. It never
// panics, allocates only in proportion to a bounded input, and says nothing
// about whether the token is authentic.
func parseToken(s string) (token, bool) {
	if len(s) > maxTokenLen || !strings.HasPrefix(s, tokenVersion+".") {
		return token{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return token{}, false
	}
	kid, bucketStr, nonceStr, macStr := parts[1], parts[2], parts[3], parts[4]
	if !validKid(kid) || len(nonceStr) != encodedLen || len(macStr) != encodedLen {
		return token{}, false
	}
	bucket, ok := parseBucket(bucketStr)
	if !ok {
		return token{}, false
	}
	nonce, err := b64.DecodeString(nonceStr)
	if err != nil || len(nonce) != nonceSize {
		return token{}, false
	}
	mac, err := b64.DecodeString(macStr)
	if err != nil || len(mac) != macSize {
		return token{}, false
	}
	return token{kid: kid, bucket: bucket, nonce: nonce, mac: mac, signed: s[:len(s)-len(macStr)-1]}, true
}

// validKid accepts key ids of the form sessiond issues ("k_" + base32) and,
// defensively, any short id of letters, digits, '_' and '-': never a dot.
func validKid(kid string) bool {
	if kid == "" || len(kid) > maxKidLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// signToken returns the token for nonce in bucket, signed by the key
// (kid, secret).
func signToken(kid string, secret []byte, bucket Bucket, nonce []byte) string {
	t := make([]byte, 0, len(tokenVersion)+1+len(kid)+1+2+1+encodedLen+1+encodedLen)
	t = append(t, tokenVersion+"."...)
	t = append(t, kid...)
	t = append(t, '.')
	t = bucket.appendTo(t)
	t = append(t, '.')
	t = b64.AppendEncode(t, nonce)
	mac := hmacSHA256(secret, t)
	t = append(t, '.')
	return string(b64.AppendEncode(t, mac[:]))
}

// authentic reports, in constant time, whether t's mac was made with secret.
func (t token) authentic(secret []byte) bool {
	if len(secret) == 0 {
		return false
	}
	mac := hmacSHA256(secret, t.signed)
	return hmac.Equal(t.mac, mac[:])
}

// hmacSHA256 is HMAC-SHA-256 (RFC 2104) of msg under key: crypto/hmac's
// result, computed as the RFC defines it with two sha256.Sum256 over a
// buffer on the stack, where crypto/hmac puts two hash states, both pads
// and the sum on the heap (7 allocations, 600 bytes) on every call, and
// each create and verify makes two. TestHMACIsCryptoHMAC holds the two
// together.
func hmacSHA256[M string | []byte](key []byte, msg M) [sha256.Size]byte {
	const ipad, opad = 0x36, 0x5c
	if len(key) > sha256.BlockSize {
		k := sha256.Sum256(key)
		key = k[:]
	}
	var pad [sha256.BlockSize]byte
	copy(pad[:], key)
	for i := range pad {
		pad[i] ^= ipad
	}
	var buf [sha256.BlockSize + maxTokenLen]byte // a longer msg goes to the heap
	inner := sha256.Sum256(append(append(buf[:0], pad[:]...), msg...))
	for i := range pad {
		pad[i] ^= ipad ^ opad
	}
	return sha256.Sum256(append(append(buf[:0], pad[:]...), inner[:]...))
}

// sessionIDContext starts what a session id hashes.
const sessionIDContext = "sessiond session id\x00"

// sessionID derives the public session id from a token's bucket and nonce:
// "s" bucket "_" base32(SHA-256("sessiond session id\x00" nonce)[:20]). It is
// one-way, and independent of the signing key, so re-signing keeps the id.
func sessionID(bucket Bucket, nonce []byte) string {
	var buf [len(sessionIDContext) + nonceSize]byte
	sum := sha256.Sum256(append(append(buf[:0], sessionIDContext...), nonce...))
	return "s" + bucket.String() + "_" + secrets.Encode(sum[:20])
}

// csrfToken derives a session's CSRF token from its nonce:
// base64url(HMAC-SHA-256(nonce, "sessiond csrf\x00")). Only the holder of the
// session token can compute it, it reveals nothing about the token, Redis
// never stores it, and a regenerated session (new nonce) gets a new one. Being
// derivable before any Redis command is what lets verify compare it in
// constant time in Go and still make exactly one round trip.
func csrfToken(nonce []byte) string {
	mac := hmacSHA256(nonce, "sessiond csrf\x00")
	return b64.EncodeToString(mac[:])
}

// csrfMatches compares a presented CSRF token with the session's in constant
// time.
func csrfMatches(nonce []byte, presented string) bool {
	return hmac.Equal([]byte(csrfToken(nonce)), []byte(presented))
}
