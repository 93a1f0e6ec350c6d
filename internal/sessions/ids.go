package sessions

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"github.com/sessiond/sessiond/internal/secrets"
)

// Bucket is one of a tenant's NumBuckets groups of sessions: every session
// of a user is in the bucket userBucket(tenant, user), an anonymous one in a
// random bucket. A store keeps a bucket's sessions together (on Redis: one
// hash tag), so that a user's cap and "log out other devices" are atomic.
// The bucket is named in the token and the session id, not secret.
type Bucket int

// NumBuckets is the number of buckets per tenant: 10 bits.
const NumBuckets = 1024

const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// String encodes b (0..1023) as two lower-case base32 characters, as in
// tokens and session ids.
func (b Bucket) String() string {
	return string([]byte{base32Alphabet[(b>>5)&31], base32Alphabet[b&31]})
}

// appendTo appends b.String() to dst.
func (b Bucket) appendTo(dst []byte) []byte {
	return append(dst, base32Alphabet[(b>>5)&31], base32Alphabet[b&31])
}

// parseBucket reverses Bucket.String.
func parseBucket(s string) (Bucket, bool) {
	if len(s) != 2 {
		return 0, false
	}
	hi, lo := strings.IndexByte(base32Alphabet, s[0]), strings.IndexByte(base32Alphabet, s[1])
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return Bucket(hi<<5 | lo), true
}

// userBucket is the first 10 bits of SHA-256(tenant "\x00" user).
func userBucket(tenantID, userID string) Bucket {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + userID))
	return Bucket(binary.BigEndian.Uint16(sum[:2]) >> 6)
}

// randomBucket picks the bucket of an anonymous session.
func randomBucket() Bucket {
	b := secrets.Random(2)
	return Bucket(binary.BigEndian.Uint16(b) >> 6)
}

// ValidUserID reports whether s is an acceptable user id: 1 to 128 of
// A-Z a-z 0-9 . _ @ + | = -, not made only of dots ("." and ".." are path
// segments: /v1/users/../sessions would name another resource). No valid
// user id contains '{', '}', ':' or '*', so none can leave its Redis
// namespace.
func ValidUserID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	onlyDots := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._@+|=-", c) >= 0:
		default:
			return false
		}
		onlyDots = onlyDots && c == '.'
	}
	return !onlyDots
}

// sessionIDLen is len("s" + 2 + "_" + 32).
const sessionIDLen = 36

// ValidSessionID reports whether s has the shape of a session id:
// "s" + 2 base32 characters (the bucket) + "_" + 32 base32 characters.
func ValidSessionID(s string) bool {
	if len(s) != sessionIDLen || s[0] != 's' || s[3] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if i == 3 {
			continue
		}
		if strings.IndexByte(base32Alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// BucketOf returns the bucket named in a valid session id (ValidSessionID).
func BucketOf(sid string) Bucket {
	b, _ := parseBucket(sid[1:3])
	return b
}

// validTenantID reports whether s may name a tenant in a store's namespace:
// non-empty, at most 128 bytes, without '{', '}', ':', '*', NUL or space,
// so it can never break out of a Redis hash tag. Tenant ids come from the
// authenticated principal; this guards the namespace all the same.
func validTenantID(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, "{}:*\x00 ")
}
