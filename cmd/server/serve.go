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

	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/config"
)

// serve runs the API until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "development mode: generate and keep keys in SESSIOND_DATA_DIR, create a demo tenant")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	started := time.Now()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if *dev {
		if err := devSecrets(&cfg); err != nil {
			return err
		}
		cfg.Dev = true
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)

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
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	log.Info("sessiond listening", slog.String("url", url), slog.String("version", version),
		slog.Duration("startup", time.Since(started)))
	fmt.Fprintf(stdout, "sessiond %s listening on %s (started in %s)\n", version, url, time.Since(started).Round(time.Millisecond))
	if *dev {
		if err := devTenant(ctx, a, cfg, url, stdout); err != nil {
			_ = ln.Close()
			return err
		}
		if err := devOperator(ctx, a, cfg, url, stdout); err != nil {
			_ = ln.Close()
			return err
		}
	}

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
	log.Info("shutting down: draining in-flight requests", slog.Duration("timeout", cfg.ShutdownGrace))
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
