package tenants

import (
	"testing"
	"time"
)

func TestParseAPIKeySecret(t *testing.T) {
	const id16 = "abcdefghijklmnop"
	tests := []struct {
		name   string
		secret string
		id     string // "" when refused
	}{
		{"a well-formed secret names its key", "sk_" + id16 + "_randomrandom", "ak_" + id16},
		{"the random part may itself hold underscores", "sk_" + id16 + "_a_b", "ak_" + id16},
		{"an empty random part still names the key (the hash check refuses it)", "sk_" + id16 + "_", "ak_" + id16},
		{"an empty string is refused", "", ""},
		{"a secret without the sk_ prefix is refused", "ak_" + id16 + "_random", ""},
		{"an upper-case prefix is refused", "SK_" + id16 + "_random", ""},
		{"a secret without a separator is refused", "sk_" + id16 + "random", ""},
		{"a 15-character id is refused", "sk_" + id16[:15] + "_random", ""},
		{"a 17-character id is refused", "sk_" + id16 + "q_random", ""},
		{"an empty id is refused", "sk__random", ""},
		{"a bearer-prefixed secret is refused", "Bearer sk_" + id16 + "_random", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := parseAPIKeySecret(tt.secret)
			if ok != (tt.id != "") || id != tt.id {
				t.Fatalf("parseAPIKeySecret(%q) = %q, %v; want %q", tt.secret, id, ok, tt.id)
			}
		})
	}
}

func TestAPIKeySecretRoundTrips(t *testing.T) {
	k, secret, err := NewAPIKey("tn_x", "ci", []Scope{ScopeSessions}, time.Unix(1_900_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := parseAPIKeySecret(secret); !ok || id != k.ID {
		t.Fatalf("parseAPIKeySecret(new secret) = %q, %v; want %q", id, ok, k.ID)
	}
}
