package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/migrations"
)

func runCLI(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, getenv, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestMigrateCommands(t *testing.T) {
	getenv := testEnv(t, nil)
	latest := fmt.Sprintf("schema version %d ", migrations.Latest())
	for _, c := range []struct{ args, want string }{
		{"migrate version", "schema version 0 "},
		{"migrate up", latest},
		{"migrate down", "schema version 0 "},
		{"migrate up", latest},
	} {
		out, err := runCLI(t, getenv, strings.Fields(c.args)...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Fatalf("sessiond %s: %q %v, want %q", c.args, out, err, c.want)
		}
	}
	if _, err := runCLI(t, getenv, "migrate", "sideways"); err == nil {
		t.Fatal("an unknown direction was accepted")
	}
}

func TestTenantCreatePrintsAWorkingKeyOnce(t *testing.T) {
	getenv := testEnv(t, nil)
	out, err := runCLI(t, getenv, "tenant", "create", "--name", "CLI Co")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	key := regexp.MustCompile(`api key\s+(sk_\S+)`).FindStringSubmatch(out)
	if key == nil {
		t.Fatalf("no API key printed:\n%s", out)
	}
	s := startServe(t, nil, getenv)
	req, _ := http.NewRequest("GET", s.url+"/v1/policy", nil)
	req.Header.Set("Authorization", "Bearer "+key[1])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the printed key answers %d", res.StatusCode)
	}
	if _, err := runCLI(t, getenv, "tenant", "create", "--name", ""); err == nil {
		t.Fatal("an empty name was accepted")
	}
}

func TestKeygenMakesValidSecrets(t *testing.T) {
	out, err := runCLI(t, func(string) string { return "" }, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	tok := regexp.MustCompile(`SESSIOND_OPERATOR_TOKEN=(\S+)`).FindStringSubmatch(out)
	mk := regexp.MustCompile(`SESSIOND_MASTER_KEY=(\S+)`).FindStringSubmatch(out)
	if tok == nil || len(tok[1]) < 32 || mk == nil {
		t.Fatalf("keygen printed %q", out)
	}
	if raw, err := base64.StdEncoding.DecodeString(mk[1]); err != nil || len(raw) != 32 {
		t.Fatalf("master key decodes to %d bytes, %v", len(raw), err)
	}
	again, _ := runCLI(t, func(string) string { return "" }, "keygen")
	if again == out {
		t.Fatal("keygen printed the same secrets twice")
	}
}

func TestUsageAndVersion(t *testing.T) {
	if out, err := runCLI(t, func(string) string { return "" }, "version"); err != nil || !strings.HasPrefix(out, "sessiond ") {
		t.Fatalf("version: %q %v", out, err)
	}
	if out, err := runCLI(t, func(string) string { return "" }, "frobnicate"); err == nil || !strings.Contains(out, "unknown command") {
		t.Fatalf("unknown command: %q %v", out, err)
	}
	if out, _ := runCLI(t, func(string) string { return "" }, "help", "config"); !strings.Contains(out, "SESSIOND_MASTER_KEY") {
		t.Fatalf("help config: %q", out)
	}
}
