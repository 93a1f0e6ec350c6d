package tenants

import (
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Scope is what an API key may do.
type Scope string

const (
	// ScopeSessions allows the session endpoints.
	ScopeSessions Scope = "sessions"
	// ScopeAdmin allows policy, keyring, API keys and events.
	ScopeAdmin Scope = "admin"
)

// APIKeyIDPrefix starts every API key id; APIKeySecretPrefix starts every
// API key secret ("sk_<id>_<secret>").
const (
	APIKeyIDPrefix     = "ak_"
	APIKeySecretPrefix = "sk_"
)

// APIKey is a tenant's credential for the REST API. Only the SHA-256 of its
// secret is stored.
type APIKey struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"-"`
	Name       string     `json:"name"`
	Scopes     []Scope    `json:"scopes"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	SecretHash []byte     `json:"-"`
}

// Has reports whether the key carries scope.
func (k APIKey) Has(scope Scope) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// NewAPIKey makes an API key and returns it with its secret, which is shown
// once and never stored.
func NewAPIKey(tenantID, name string, scopes []Scope, now time.Time) (APIKey, string, error) {
	if err := validateAPIKey(name, scopes); err != nil {
		return APIKey{}, "", err
	}
	id := secrets.NewID(APIKeyIDPrefix)
	secret := APIKeySecretPrefix + strings.TrimPrefix(id, APIKeyIDPrefix) + "_" + secrets.Encode(secrets.Random(32))
	return APIKey{
		ID:         id,
		TenantID:   tenantID,
		Name:       name,
		Scopes:     dedupeScopes(scopes),
		Prefix:     secret[:len(APIKeySecretPrefix)+8],
		CreatedAt:  now,
		SecretHash: secrets.Hash(secret),
	}, secret, nil
}

// parseAPIKeySecret returns the API key id named by a presented secret.
func parseAPIKeySecret(secret string) (id string, ok bool) {
	rest, found := strings.CutPrefix(secret, APIKeySecretPrefix)
	if !found {
		return "", false
	}
	idPart, _, found := strings.Cut(rest, "_")
	if !found || len(idPart) != 16 {
		return "", false
	}
	return APIKeyIDPrefix + idPart, true
}

func validateAPIKey(name string, scopes []Scope) error {
	if err := validateLabel("name", name); err != nil {
		return err
	}
	if len(scopes) == 0 {
		return fault.Invalid("scopes", `must name at least one of "sessions", "admin"`)
	}
	for _, s := range scopes {
		if s != ScopeSessions && s != ScopeAdmin {
			return fault.Invalid("scopes", `each scope must be "sessions" or "admin"`)
		}
	}
	return nil
}

func dedupeScopes(in []Scope) []Scope {
	var out []Scope
	for _, want := range []Scope{ScopeSessions, ScopeAdmin} {
		for _, s := range in {
			if s == want {
				out = append(out, want)
				break
			}
		}
	}
	return out
}
