// Command sessiond is the multi-tenant session service: one binary that
// serves the REST API and runs its own migrations and admin tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "sessiond:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `sessiond — multi-tenant session service

Usage:
  sessiond serve [--dev]            serve the API (--dev: no configuration needed)
  sessiond migrate up|down|version  manage the database schema
  sessiond tenant create --name N   create a tenant and print its first API key once
  sessiond admin create (--tenant ID | --operator) --email E
                                    create an admin UI account (password from stdin or --password-file)
  sessiond keygen                   print a new operator token and master key (NAME=value lines)
  sessiond keygen master-key|operator-token
                                    print one new secret alone, for a secret file
  sessiond healthcheck              exit 0 if the local server answers /healthz
  sessiond version                  print the version

Configuration comes from the environment; see README.md or 'sessiond help config'.
`

// run is the whole program, with its environment passed in so tests can run
// it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout)
	case "tenant":
		return tenantCmd(ctx, args[1:], getenv, stdout, stderr)
	case "admin":
		return adminCmd(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "keygen":
		return keygen(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, "sessiond", version)
		return nil
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] == "config" {
			printConfigHelp(stdout)
			return nil
		}
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "sessiond: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
