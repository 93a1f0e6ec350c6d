package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/migrations"
)

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "version") {
		return errors.New("usage: sessiond migrate up|down|version")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL (DATABASE_URL): %w", err)
	}
	defer pool.Close()
	if args[0] != "version" {
		if err := postgres.Migrate(ctx, pool, args[0]); err != nil {
			return err
		}
	}
	v, dirty, err := postgres.MigrationVersion(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d (dirty: %t; this binary's latest: %d)\n", v, dirty, migrations.Latest())
	return nil
}

func tenantCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: sessiond tenant create --name NAME")
	}
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the tenant's name")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if len(cfg.MasterKey) != secrets.MasterKeySize {
		return errors.New("SESSIOND_MASTER_KEY must be set (base64 of 32 bytes) to create a tenant; make one with `sessiond keygen`")
	}
	a, err := app.Open(ctx, cfg, newLogger(io.Discard, "error"), app.Options{Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	t, ak, secret, err := a.Tenants.CreateTenant(ctx, *name, tenants.Actor{Name: "operator:cli"})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "tenant\t%s\n", t.ID)
	fmt.Fprintf(w, "name\t%s\n", t.Name)
	fmt.Fprintf(w, "api key id\t%s\n", ak.ID)
	fmt.Fprintf(w, "api key\t%s\n", secret)
	_ = w.Flush()
	fmt.Fprintln(stdout, "\nThe API key is shown once; store it now.")
	return nil
}

// keygen prints new secrets: with no argument both, as NAME=value lines
// (for an env file); with "master-key" or "operator-token" that one value
// alone, for a secret file (`sessiond keygen master-key > secrets/master_key`).
func keygen(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stdout, "SESSIOND_OPERATOR_TOKEN=%s\nSESSIOND_MASTER_KEY=%s\n", newOperatorToken(), newMasterKey())
		return nil
	}
	if len(args) == 1 {
		switch args[0] {
		case "master-key":
			fmt.Fprintln(stdout, newMasterKey())
			return nil
		case "operator-token":
			fmt.Fprintln(stdout, newOperatorToken())
			return nil
		}
	}
	fmt.Fprintln(stderr, "usage: sessiond keygen [master-key | operator-token]")
	return errUsage
}

// healthcheck asks the local server's /healthz; the container image uses it.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	host := cfg.Addr
	if strings.HasPrefix(host, "0.0.0.0:") || strings.HasPrefix(host, ":") {
		host = "127.0.0.1:" + host[strings.LastIndex(host, ":")+1:]
	}
	scheme := "http"
	client := &http.Client{Timeout: 3 * time.Second}
	if cfg.TLSCert != "" {
		scheme = "https"
		client.Transport = insecureLocalTransport()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}

func printConfigHelp(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range config.Vars {
		name := v.Name
		if v.Secret {
			name += " (or _FILE)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, v.Default, v.Doc)
	}
	_ = tw.Flush()
}
