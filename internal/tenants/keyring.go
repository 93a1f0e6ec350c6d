package tenants

import (
	"time"
)

// KeyState is where a signing key is in its life.
type KeyState string

const (
	// KeyActive signs new tokens. A keyring has exactly one.
	KeyActive KeyState = "active"
	// KeyRetiring still verifies tokens until its grace period ends, and
	// verify re-signs such tokens with the active key.
	KeyRetiring KeyState = "retiring"
	// KeyRetired is rejected.
	KeyRetired KeyState = "retired"
)

// KeyIDPrefix starts every signing key id (kid).
const KeyIDPrefix = "k_"

// KeySecretSize is the length of a signing secret (HMAC-SHA-256 key).
const KeySecretSize = 32

// Key is one signing secret of a tenant's keyring. Secret is the plaintext
// in memory only; SealedSecret is its stored form. Neither is ever serialised
// to a client.
type Key struct {
	ID           string     `json:"kid"`
	TenantID     string     `json:"-"`
	State        KeyState   `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	RetiresAt    *time.Time `json:"retires_at,omitempty"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	Secret       []byte     `json:"-"`
	SealedSecret []byte     `json:"-"`
}

// At returns the key as it stands at now: a retiring key whose grace period
// has ended is retired, with RetiredAt set to the end of its grace.
func (k Key) At(now time.Time) Key {
	if k.State == KeyRetiring && k.RetiresAt != nil && !now.Before(*k.RetiresAt) {
		k.State = KeyRetired
		at := *k.RetiresAt
		k.RetiredAt = &at
	}
	return k
}

// sealAAD binds a sealed secret to its tenant and kid.
func sealAAD(tenantID, kid string) []byte { return []byte(tenantID + "/" + kid) }
