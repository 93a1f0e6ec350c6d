package sessions

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"github.com/sessiond/sessiond/internal/secrets"
)

// Redis layout (docs/architecture.md, "Redis layout"), with P the prefix, T
// the tenant and B the bucket:
//
//	P:{T:B}:s:<sid>    hash   one session
//	P:{T:B}:u:<user>   zset   the user's session ids, score = created_at (ms)
//	P:{T:B}:idx        zset   every session id in the bucket, score = absolute deadline (ms)
//
// Every key of a user shares the hash tag {T:B}, so the scripts that touch
// them run in one Cluster slot.

// numBuckets is the number of buckets per tenant: 10 bits.
const numBuckets = 1024

const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// bucketString encodes a bucket 0..1023 as two lower-case base32 characters.
func bucketString(b int) string {
	return string([]byte{base32Alphabet[(b>>5)&31], base32Alphabet[b&31]})
}

// parseBucket reverses bucketString.
func parseBucket(s string) (int, bool) {
	if len(s) != 2 {
		return 0, false
	}
	hi, lo := strings.IndexByte(base32Alphabet, s[0]), strings.IndexByte(base32Alphabet, s[1])
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return hi<<5 | lo, true
}

// userBucket is the first 10 bits of SHA-256(tenant "\x00" user).
func userBucket(tenantID, userID string) int {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + userID))
	return int(binary.BigEndian.Uint16(sum[:2]) >> 6)
}

// randomBucket picks the bucket of an anonymous session.
func randomBucket() int {
	b := secrets.Random(2)
	return int(binary.BigEndian.Uint16(b) >> 6)
}

// keyspace names the keys of one tenant's bucket.
type keyspace struct{ base string } // "P:{T:B}:"

func (m *Manager) keys(tenantID string, bucket int) keyspace {
	return keyspace{base: m.prefix + ":{" + tenantID + ":" + bucketString(bucket) + "}:"}
}

func (k keyspace) session(sid string) string { return k.base + "s:" + sid }
func (k keyspace) user(uid string) string    { return k.base + "u:" + uid }
func (k keyspace) index() string             { return k.base + "idx" }

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

// sessionBucket returns the bucket named in a valid session id.
func sessionBucket(sid string) int {
	b, _ := parseBucket(sid[1:3])
	return b
}

// validTenantID guards the namespace against tenant ids that could break out
// of a hash tag; tenant ids come from the authenticated principal.
func validTenantID(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, "{}:*\x00 ")
}
