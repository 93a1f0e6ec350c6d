package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/redisconn"
)

// serve runs the API until ctx ends, then drains (drain.go) and waits for
// in-flight requests.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	cfg, err := serveConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	// go-redis's own messages (pool, dial, cluster) join the JSON log as
	// warnings instead of plain lines on stderr.
	redis.SetLogger(redisconn.NewLogger(log))

	a, err := app.Open(ctx, cfg, log, app.Options{Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	handler, err := a.Handler()
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("SESSIOND_ADDR: %w", err)
	}
	srv := newHTTPServer(closeWhileDraining(handler, a.Draining), cfg, log)
	srv.RegisterOnShutdown(a.CloseStreams) // changes streams end at the drain, not at its timeout
	url := announce(ln, cfg, log, stdout, started)
	if cfg.Dev {
		if err := devSetup(ctx, a, cfg, url, stdout); err != nil {
			_ = ln.Close()
			return err
		}
	}
	return serveUntilDone(ctx, srv, ln, cfg, a.StartDrain, log)
}

// serveConfig reads the configuration for `serve [--dev]`: the environment,
// then, with --dev, generated secrets kept in SESSIOND_DATA_DIR; it refuses
// to serve with missing or weak secrets.
func serveConfig(args []string, getenv func(string) string, stderr io.Writer) (config.Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "development mode: generate and keep keys in SESSIOND_DATA_DIR, create a demo tenant")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, errUsage
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, err
	}
	if *dev {
		if err := devSecrets(&cfg); err != nil {
			return cfg, err
		}
		cfg.Dev = true
	}
	return cfg, cfg.Validate()
}

// newHTTPServer is the server for handler: all four timeouts set, a header
// size limit, TLS 1.2 at least when serving HTTPS, errors to the log.
func newHTTPServer(handler http.Handler, cfg config.Config, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return srv
}

// announce says where sessiond listens, in the log and on stdout, and
// returns that URL.
func announce(ln net.Listener, cfg config.Config, log *slog.Logger, stdout io.Writer, started time.Time) string {
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	log.Info("sessiond listening", slog.String("url", url), slog.String("version", version),
		slog.Duration("startup", time.Since(started)))
	fmt.Fprintf(stdout, "sessiond %s listening on %s (started in %s)\n", version, url, time.Since(started).Round(time.Millisecond))
	return url
}

// devSetup makes the demo tenant and the dev operator of `serve --dev`.
func devSetup(ctx context.Context, a *app.App, cfg config.Config, url string, stdout io.Writer) error {
	if err := devTenant(ctx, a, cfg, url, stdout); err != nil {
		return err
	}
	return devOperator(ctx, a, cfg, url, stdout)
}

// serveUntilDone serves on ln until ctx ends or serving fails; then it
// drains for SESSIOND_DRAIN_DELAY (startDrain makes /readyz fail), stops
// accepting and waits up to SESSIOND_SHUTDOWN_TIMEOUT for in-flight
// requests.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, cfg config.Config, startDrain func(), log *slog.Logger) error {
	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			serveErr <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	if err := drain(startDrain, cfg.DrainDelay, serveErr, log); err != nil {
		return err
	}
	log.Info("shutting down: no longer accepting; waiting for in-flight requests", slog.Duration("timeout", cfg.ShutdownGrace))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
