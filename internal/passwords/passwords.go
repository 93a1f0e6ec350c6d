// Package passwords hashes and checks admin passwords with argon2id. A hash
// is stored as a PHC string,
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
//
// (salt and key in unpadded standard base64), so the parameters travel with
// each hash and can be raised later without invalidating stored ones.
package passwords

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/sessiond/sessiond/internal/secrets"
)

// Params are the argon2id cost parameters of new hashes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// Default follows the OWASP Password Storage Cheat Sheet's argon2id
// recommendation (19 MiB, 2 passes, 1 lane).
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Bounds a stored hash's parameters may take when it is checked, so that a
// corrupted or hostile row cannot make a login allocate gigabytes.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 64
	maxThreads = 64
)

// ErrMalformed means a stored hash is not an argon2id PHC string this
// package can check.
var ErrMalformed = errors.New("passwords: malformed argon2id hash")

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password under p with a fresh random salt.
// Zero fields of p take Default's.
func Hash(password string, p Params) string {
	p = p.withDefaults()
	salt := secrets.Random(saltLen)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Check reports whether password matches the PHC string encoded, comparing
// the derived keys in constant time. It returns ErrMalformed (and false) for
// a hash it cannot read.
func Check(password, encoded string) (bool, error) {
	p, salt, want, err := parse(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Dummy returns a hash of a random password under p. Checking a password
// against it costs what checking a real one does, so a login for an unknown
// account takes as long as one for a known account.
func Dummy(p Params) string { return Hash(secrets.Encode(secrets.Random(16)), p) }

func (p Params) withDefaults() Params {
	if p.Memory == 0 {
		p.Memory = Default.Memory
	}
	if p.Time == 0 {
		p.Time = Default.Time
	}
	if p.Threads == 0 {
		p.Threads = Default.Threads
	}
	return p
}

func parse(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return Params{}, nil, nil, ErrMalformed
	}
	if p.Memory < 8 || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads {
		return Params{}, nil, nil, ErrMalformed
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
