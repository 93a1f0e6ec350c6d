package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

const adminUsage = "usage: sessiond admin create (--tenant tn_... | --operator) --email EMAIL [--password-file FILE]\n" +
	"The password is read from --password-file, or else from the first line of standard input; never from the command line."

// adminCmd runs `sessiond admin create`: it makes a tenant admin, or an
// operator (an admin of every tenant) with --operator.
func adminCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(adminUsage)
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenantID := fs.String("tenant", "", "the tenant the admin manages (tn_...)")
	operator := fs.Bool("operator", false, "make an operator, who manages every tenant")
	email := fs.String("email", "", "the admin's email, used to sign in")
	passwordFile := fs.String("password-file", "", "file holding the password (else read from standard input)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if (*tenantID == "") == !*operator || *email == "" || fs.NArg() > 0 {
		return errors.New(adminUsage)
	}
	if *operator {
		*tenantID = tenants.SystemTenantID
	}
	password, err := readPassword(*passwordFile, stdin)
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if len(cfg.MasterKey) != secrets.MasterKeySize {
		return errors.New("SESSIOND_MASTER_KEY must be set (base64 of 32 bytes); make one with `sessiond keygen`")
	}
	a, err := app.Open(ctx, cfg, newLogger(io.Discard, "error"), app.Options{Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	ad, err := a.Tenants.CreateAdmin(ctx, *tenantID, *email, password, tenants.Actor{Name: "operator:cli"})
	if err != nil {
		return err
	}
	role := "admin of " + ad.TenantID
	if ad.Role() == tenants.RoleOperator {
		role = "operator"
	}
	fmt.Fprintf(stdout, "admin %s (%s, %s) created; sign in at /admin\n", ad.ID, ad.Email, role)
	return nil
}

// readPassword reads a password from file, or from the first line of stdin.
func readPassword(file string, stdin io.Reader) (string, error) {
	var raw string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		raw = string(b)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		raw = line
	}
	pw := strings.TrimRight(raw, "\r\n")
	if pw == "" {
		return "", errors.New("no password given: pipe it to standard input or use --password-file")
	}
	return pw, nil
}

// devOperator makes sure an operator admin exists in --dev and prints how to
// sign in. Its password is generated once and kept in the data directory
// (mode 0600).
func devOperator(ctx context.Context, a *app.App, cfg config.Config, url string, stdout io.Writer) error {
	const email = "operator@sessiond.localhost"
	path := filepath.Join(cfg.DataDir, "admin_password")
	password, err := readOrCreate(path, func() string { return "pw-" + secrets.Encode(secrets.Random(15)) })
	if err != nil {
		return err
	}
	if _, err := a.Tenants.CreateAdmin(ctx, tenants.SystemTenantID, email, password, tenants.Actor{Name: "operator:dev"}); err != nil {
		if !fault.Is(err, fault.Conflict) {
			return fmt.Errorf("creating the dev operator admin: %w", err)
		}
	}
	fmt.Fprintf(stdout, `  Admin UI:        %s/admin
  Sign in as:      %s
  Password:        in %s

`, url, email, path)
	return nil
}
