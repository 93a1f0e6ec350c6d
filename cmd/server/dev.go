package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// devSecrets fills a missing operator token and master key from files in
// the data directory, generating them (mode 0600) on first use, so
// `serve --dev` needs no configuration and keeps working across restarts.
func devSecrets(cfg *config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("SESSIOND_DATA_DIR: %w", err)
	}
	if cfg.OperatorToken == "" {
		tok, err := readOrCreate(filepath.Join(cfg.DataDir, "operator_token"), newOperatorToken)
		if err != nil {
			return err
		}
		cfg.OperatorToken = tok
	}
	if len(cfg.MasterKey) == 0 {
		mk, err := readOrCreate(filepath.Join(cfg.DataDir, "master_key"), newMasterKey)
		if err != nil {
			return err
		}
		if cfg.MasterKey, err = base64.StdEncoding.DecodeString(mk); err != nil {
			return fmt.Errorf("%s: not base64", filepath.Join(cfg.DataDir, "master_key"))
		}
	}
	return nil
}

func readOrCreate(path string, make func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	v := make()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

func newOperatorToken() string { return "op_" + secrets.Encode(secrets.Random(32)) }
func newMasterKey() string {
	return base64.StdEncoding.EncodeToString(secrets.Random(secrets.MasterKeySize))
}

// devTenantFile remembers the demo tenant and its API key between dev runs.
type devTenantFile struct {
	TenantID string `json:"tenant_id"`
	APIKey   string `json:"api_key"`
}

// devTenant makes sure a demo tenant exists and prints how to use it.
func devTenant(ctx context.Context, a *app.App, cfg config.Config, url string, stdout io.Writer) error {
	path := filepath.Join(cfg.DataDir, "demo_tenant.json")
	var demo devTenantFile
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &demo)
	}
	if _, err := a.Cache.Authenticate(demo.APIKey); err != nil {
		t, _, secret, err := a.Tenants.CreateTenant(ctx, "Demo", tenants.Actor{Name: "operator"})
		if err != nil {
			return fmt.Errorf("creating the demo tenant: %w", err)
		}
		demo = devTenantFile{TenantID: t.ID, APIKey: secret}
		b, _ := json.MarshalIndent(demo, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, `
  Development mode. Keys are kept in %s (mode 0600); do not use them in production.
  Demo tenant:     %s
  Demo API key:    %s
  Operator token:  in %s
  Try:             curl -s -H "Authorization: Bearer %s" %s/v1/policy

`, cfg.DataDir, demo.TenantID, demo.APIKey, filepath.Join(cfg.DataDir, "operator_token"), demo.APIKey, url)
	return nil
}
