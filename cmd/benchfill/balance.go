package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/internal/testkit/balancer"
)

// upstreams is a repeatable -upstream flag.
type upstreams []string

func (u *upstreams) String() string     { return strings.Join(*u, ",") }
func (u *upstreams) Set(v string) error { *u = append(*u, v); return nil }

// balance serves a load balancer (internal/testkit/balancer: round robin
// over the upstreams whose /readyz answers 200, no retries) on -listen until
// SIGTERM or SIGINT, then prints one line for scripts/bench:
//
//	BALANCE failed=N served=A,B,... errors="first error; ..."
func balance(args []string) error {
	fs := flag.NewFlagSet("balance", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	every := fs.Duration("every", 100*time.Millisecond, "how often to check each upstream's /readyz")
	var ups upstreams
	fs.Var(&ups, "upstream", "an upstream base URL (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(ups) == 0 {
		return errors.New("balance: no -upstream")
	}
	lb, err := balancer.New(ups, *every)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	checks := make(chan struct{})
	go func() { lb.Run(ctx); close(checks) }()
	srv := &http.Server{Handler: lb, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-checks
	served := make([]string, len(ups))
	for i := range ups {
		served[i] = fmt.Sprint(lb.Served(i))
	}
	fmt.Printf("BALANCE failed=%d served=%s errors=%q\n", lb.Failed(), strings.Join(served, ","), strings.Join(lb.Errors(), "; "))
	return nil
}
