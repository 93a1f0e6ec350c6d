package main

import (
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Graceful drain. On SIGTERM (or when serve's context ends) sessiond goes
// through three phases, each logged:
//
//  1. Drain (SESSIOND_DRAIN_DELAY, default 5 s): /readyz answers 503
//     "draining" while /healthz stays 200, and the server keeps accepting
//     and serving everything as before, except that each response carries
//     "Connection: close" (over HTTP/2, Go sends GOAWAY for it instead). A
//     load balancer that polls /readyz takes the instance out of rotation;
//     one that has not noticed yet still gets every answer.
//  2. Shutdown (SESSIOND_SHUTDOWN_TIMEOUT): http.Server.Shutdown stops
//     accepting, closes idle connections and waits for in-flight requests.
//  3. Stopped: the App closes (pending security events are stored) and the
//     process exits 0.
//
// Why no request is lost on a kept-alive connection. The loss happens when
// the server closes an idle connection at the moment a client writes its
// next request on it: the client cannot know the close came first, and the
// request is never read. So the drain never closes an idle connection
// itself (http.Server.SetKeepAlivesEnabled(false) would, at once, racing
// exactly those requests). Instead, a connection that carries a request
// during the drain is closed by the server only after a response that says
// "Connection: close", which the client reads before it could send another
// request there (a client that pipelines requests without waiting for
// answers is not covered; HTTP/1.1 clients in practice do not). By the end
// of the delay, every connection a client went on using has been closed that
// way, and the connections Shutdown then closes are ones nobody sent a
// request on for the whole delay: behind a load balancer that stopped
// routing here, nobody will. The guarantee therefore needs a delay longer
// than the load balancer's time to notice /readyz (its interval times its
// failure threshold, or the endpoint propagation of an orchestrator) and
// longer than the gaps between requests of the clients that keep
// connections to this instance. A client idle for longer than the delay
// that sends at the exact instant Shutdown closes its connection meets the
// ordinary idle-close race that every HTTP/1.1 server has (and that
// clients handle by retrying idempotent requests on a new connection).
//
// What the drain cannot save: a client with no load balancer that keeps
// opening connections to this instance until it stops listening. A
// connection the kernel has queued but the server not yet accepted when
// the listener closes is reset, with its request unread; no server-side
// choice avoids that (it is why instances go behind a load balancer), and
// the more a client reconnects (as Connection: close makes it), the more
// such connections there are at that instant.
//
// The 5 s default covers a load balancer checking every 1–2 s with a
// threshold of 2–3, and a Kubernetes endpoint removal, which starts at the
// same time as SIGTERM and takes a few seconds to reach every proxy. Drain
// delay plus shutdown timeout must stay under the orchestrator's grace
// period before SIGKILL (Kubernetes: 30 s by default; 5 s + 15 s fits).

// closeWhileDraining passes every request to h, and once draining reports
// true it marks each response "Connection: close", so that the server closes
// the connection right after that response and the client opens its next one
// elsewhere. The header is set before h runs; no handler removes it.
func closeWhileDraining(h http.Handler, draining func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// drain runs phase 1: it calls startDrain (from then on /readyz fails and
// responses close their connections), then keeps serving for delay. It
// returns early, with serving's error, if serving fails, and ends the delay
// early on a second SIGTERM or SIGINT (an operator in a hurry).
func drain(startDrain func(), delay time.Duration, serveErr <-chan error, log *slog.Logger) error {
	startDrain()
	if delay <= 0 {
		log.Info("draining: skipped (SESSIOND_DRAIN_DELAY=0)")
		return nil
	}
	log.Info("draining: /readyz answers 503; still serving, every response with Connection: close",
		slog.Duration("drain_delay", delay))
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		log.Info("drain delay over")
	case sig := <-again:
		log.Info("draining: second signal, ending the drain delay early", slog.String("signal", sig.String()))
	case err := <-serveErr:
		return err
	}
	return nil
}
