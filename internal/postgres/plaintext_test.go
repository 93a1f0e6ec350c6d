package postgres_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// encodings returns b and every common text encoding of it.
func encodings(b []byte) map[string][]byte {
	return map[string][]byte{
		"raw":             b,
		"hex":             []byte(hex.EncodeToString(b)),
		"HEX":             []byte(strings.ToUpper(hex.EncodeToString(b))),
		"base64":          []byte(base64.StdEncoding.EncodeToString(b)),
		"base64 raw":      []byte(base64.RawStdEncoding.EncodeToString(b)),
		"base64url":       []byte(base64.URLEncoding.EncodeToString(b)),
		"base64url raw":   []byte(base64.RawURLEncoding.EncodeToString(b)),
		"base32":          []byte(base32.StdEncoding.EncodeToString(b)),
		"base32 raw":      []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)),
		"base32 sessiond": []byte(secrets.Encode(b)),
	}
}

func TestNoPlaintextSecretIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	s := postgres.NewStore(pool)
	sealer := mustSealer(t)
	now := testNow()

	needles := map[string][]byte{}
	addSecret := func(name string, b []byte) {
		for enc, v := range encodings(b) {
			needles[name+" as "+enc] = v
		}
	}

	a := mustCreateTenant(t, s, sealer, "A", now)
	addSecret("signing secret "+a.Key.ID, a.KeySecret)
	next, nextSecret := newKey(t, sealer, a.Tenant.ID, now)
	if err := s.RotateKey(ctx, a.Tenant.ID, next, now.Add(time.Hour), time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	addSecret("signing secret "+next.ID, nextSecret)
	ak, akSecret, err := tenants.NewAPIKey(a.Tenant.ID, "ci", []tenants.Scope{tenants.ScopeSessions}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIKey(ctx, ak); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{a.APIKeySecret, akSecret} {
		addSecret("API key secret", []byte(secret))
		random := secret[strings.LastIndexByte(secret, '_')+1:]
		addSecret("API key secret's random part", []byte(random))
		b, err := secrets.Decode(random)
		if err != nil || len(b) != 32 {
			t.Fatalf("API key secret's random part does not decode to 32 bytes: %v", err)
		}
		addSecret("API key secret's random bytes", b)
	}

	if found := findSecrets(t, pool, needles); len(found) > 0 {
		t.Errorf("plaintext secrets at rest:\n%s", strings.Join(found, "\n"))
	}

	t.Run("the scan finds a secret when one is planted", func(t *testing.T) {
		// Proves the check above can fail: plant the raw bytes of an API key
		// secret in a bytea column and the hex of a signing secret in a text
		// column.
		random := akSecret[strings.LastIndexByte(akSecret, '_')+1:]
		raw, _ := secrets.Decode(random)
		if _, err := pool.Exec(ctx, `UPDATE api_keys SET secret_hash = $1 WHERE id = $2`, raw, ak.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE tenants SET name = $1 WHERE id = $2`, hex.EncodeToString(nextSecret), a.Tenant.ID); err != nil {
			t.Fatal(err)
		}
		found := strings.Join(findSecrets(t, pool, needles), "\n")
		if !strings.Contains(found, "api_keys.secret_hash holds the API key secret's random bytes as raw") ||
			!strings.Contains(found, "tenants.name holds the signing secret "+next.ID+" as hex") {
			t.Fatalf("planted secrets not found; found:\n%s", found)
		}
	})
}

// findSecrets reads every row of every table, each column in its binary wire
// form (bytea as raw bytes) and the whole row as PostgreSQL renders it in
// text (bytea as hex), and reports each needle it contains.
func findSecrets(tb testing.TB, pool *pgxpool.Pool, needles map[string][]byte) []string {
	tb.Helper()
	ctx := context.Background()
	var found []string
	for _, table := range []string{"tenants", "signing_keys", "api_keys", "events", "admins", "schema_migrations"} {
		rows, err := pool.Query(ctx, `SELECT t.*, t::text AS whole_row FROM `+pgx.Identifier{table}.Sanitize()+` t`,
			pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			fields := rows.FieldDescriptions()
			for i, v := range rows.RawValues() {
				for what, needle := range needles {
					if bytes.Contains(v, needle) {
						found = append(found, table+"."+fields[i].Name+" holds the "+what)
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	sort.Strings(found)
	return found
}
