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
	signed := tokenVersion + "." + kid + "." + bucket.String() + "." + b64.EncodeToString(nonce)
	return signed + "." + b64.EncodeToString(tokenMAC(secret, signed))
}

func tokenMAC(secret []byte, signed string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signed))
	return h.Sum(nil)
}

// authentic reports, in constant time, whether t's mac was made with secret.
func (t token) authentic(secret []byte) bool {
	if len(secret) == 0 {
		return false
	}
	return hmac.Equal(t.mac, tokenMAC(secret, t.signed))
}

// sessionID derives the public session id from a token's bucket and nonce:
// "s" bucket "_" base32(SHA-256("sessiond session id\x00" nonce)[:20]). It is
// one-way, and independent of the signing key, so re-signing keeps the id.
func sessionID(bucket Bucket, nonce []byte) string {
	h := sha256.New()
	h.Write([]byte("sessiond session id\x00"))
	h.Write(nonce)
	return "s" + bucket.String() + "_" + secrets.Encode(h.Sum(nil)[:20])
}

// csrfToken derives a session's CSRF token from its nonce:
// base64url(HMAC-SHA-256(nonce, "sessiond csrf\x00")). Only the holder of the
// session token can compute it, it reveals nothing about the token, Redis
// never stores it, and a regenerated session (new nonce) gets a new one. Being
// derivable before any Redis command is what lets verify compare it in
// constant time in Go and still make exactly one round trip.
func csrfToken(nonce []byte) string {
	h := hmac.New(sha256.New, nonce)
	h.Write([]byte("sessiond csrf\x00"))
	return b64.EncodeToString(h.Sum(nil))
}

// csrfMatches compares a presented CSRF token with the session's in constant
// time.
func csrfMatches(nonce []byte, presented string) bool {
	return hmac.Equal([]byte(csrfToken(nonce)), []byte(presented))
}
