package main

import (
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/secrets"
)

// `sessiond keygen master-key` and `keygen operator-token` each print one
// value alone, so `> secrets/NAME` makes a secret file start-up accepts
// (the compose file's instructions); a wrong argument is a usage error.
func TestKeygenWritesOneSecretPerFile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for _, what := range []string{"master-key", "operator-token"} {
		out, err := runCLI(t, func(string) string { return "" }, "keygen", what)
		if err != nil {
			t.Fatalf("keygen %s: %v", what, err)
		}
		if strings.Count(out, "\n") != 1 || strings.Contains(out, "=") && what == "operator-token" {
			t.Fatalf("keygen %s printed %q, want one value on one line", what, out)
		}
		files[what] = filepath.Join(dir, what)
		if err := os.WriteFile(files[what], []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"SESSIOND_MASTER_KEY_FILE":     files["master-key"],
			"SESSIOND_OPERATOR_TOKEN_FILE": files["operator-token"],
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("secrets from keygen files refused: %v", err)
	}
	if _, err := runCLI(t, func(string) string { return "" }, "keygen", "password"); err != errUsage {
		t.Fatalf("keygen password: %v, want a usage error", err)
	}
}

// Starting against a database whose tenants were sealed under another
// master key stops start-up with a plain explanation and the way out, not
// "wrong master key or tampered"; the right key still starts.
func TestStartupWithAnotherMasterKeySaysWhatHappened(t *testing.T) {
	getenv := testEnv(t, nil)
	if _, err := runCLI(t, getenv, "tenant", "create", "--name", "Acme"); err != nil {
		t.Fatal(err)
	}
	other := base64.StdEncoding.EncodeToString(secrets.Random(32))
	wrong := func(k string) string {
		if k == "SESSIOND_MASTER_KEY" {
			return other
		}
		return getenv(k)
	}
	err := run(t.Context(), []string{"serve"}, wrong, io.Discard, io.Discard)
	for _, want := range []string{
		"this database was sealed with a different master key",
		"Use the key it was created with",
		"or point DATABASE_URL at a new database",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("serve with another master key: %v\nwant it to say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "tampered") || strings.Contains(err.Error(), other) {
		t.Fatalf("the message alarms or leaks the key: %v", err)
	}
	startServe(t, nil, getenv) // the key it was created with still works
}
