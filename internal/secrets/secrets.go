// Package secrets holds the small cryptographic building blocks sessiond
// shares: random identifiers and secrets, hashing for stored credentials, and
// AES-256-GCM sealing of secrets at rest under the master key.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
)

// MasterKeySize is the length of SESSIOND_MASTER_KEY once decoded.
const MasterKeySize = 32

// lowerBase32 encodes without padding in lower case, so identifiers are safe
// in URLs, Redis keys and file names and never contain '_', '{', '}', ':'.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Random returns n bytes from crypto/rand. It panics if the system's random
// source fails, since nothing sessiond does is safe without it.
func Random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("secrets: crypto/rand failed: %v", err))
	}
	return b
}

// Encode returns b in sessiond's identifier alphabet (lower-case base32).
func Encode(b []byte) string { return lowerBase32.EncodeToString(b) }

// Decode reverses Encode.
func Decode(s string) ([]byte, error) { return lowerBase32.DecodeString(s) }

// NewID returns prefix followed by 10 random bytes in lower-case base32
// (16 characters), e.g. "tn_2xk4...".
func NewID(prefix string) string { return prefix + Encode(Random(10)) }

// Hash returns the SHA-256 of s. It is the stored form of high-entropy
// credentials (API keys, the operator token), which need no slow hash.
func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Derive returns a 32-byte key for one purpose from key: the HMAC-SHA-256
// of purpose under key. Keys derived for different purposes are
// independent, and none reveals key.
func Derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// Sealer encrypts secrets at rest with AES-256-GCM. The additional data binds
// a ciphertext to its owner, so a sealed value copied to another row fails to
// open.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; the result is nonce || ciphertext || tag.
func (s *Sealer) Seal(plaintext, additional []byte) []byte {
	nonce := Random(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, plaintext, additional)
}

// ErrUnseal means a sealed value is corrupt, was sealed under another master
// key, or belongs to another owner.
var ErrUnseal = errors.New("secrets: cannot open sealed value (wrong master key or tampered)")

// Open decrypts a value made by Seal with the same additional data.
func (s *Sealer) Open(sealed, additional []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrUnseal
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, ErrUnseal
	}
	return out, nil
}
