// Package balancer is a small HTTP load balancer for sessiond's tests and
// scripts/bench (standard library only): it sends each request to the next
// ready upstream, round robin, and polls every upstream's /readyz to know
// which are ready, as a load balancer in front of sessiond would. It never
// retries: a request its upstream fails is answered 502, and a request when
// no upstream is ready 503, so every lost request shows.
package balancer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer is an http.Handler; Run does its health checks.
type Balancer struct {
	upstreams []*upstream
	every     time.Duration
	transport *http.Transport
	next      atomic.Uint64
	failed    atomic.Int64

	mu   sync.Mutex
	errs []string // the first maxErrs failures, for messages
}

const maxErrs = 10

type upstream struct {
	url    string
	proxy  *httputil.ReverseProxy
	ready  atomic.Bool
	served atomic.Int64
}

// New returns a balancer over the upstream base URLs that checks each one's
// /readyz every `every` once Run runs; until then none is ready. Its
// connections to the upstreams are kept alive (up to 64 idle per upstream),
// as a real load balancer keeps them.
func New(upstreams []string, every time.Duration) (*Balancer, error) {
	b := &Balancer{every: every, transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}
	for _, raw := range upstreams {
		target, err := url.Parse(raw)
		if err != nil || target.Host == "" {
			return nil, fmt.Errorf("upstream %q is not a URL", raw)
		}
		u := &upstream{url: raw}
		u.proxy = &httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
			Transport: b.transport,
			ModifyResponse: func(*http.Response) error {
				u.served.Add(1)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				b.fail(fmt.Sprintf("%s: %v", raw, err))
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		b.upstreams = append(b.upstreams, u)
	}
	return b, nil
}

// ServeHTTP proxies r to the next ready upstream, once.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := uint64(len(b.upstreams))
	start := b.next.Add(1)
	for i := range n {
		if u := b.upstreams[(start+i)%n]; u.ready.Load() {
			u.proxy.ServeHTTP(w, r)
			return
		}
	}
	b.fail("no upstream is ready")
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (b *Balancer) fail(msg string) {
	b.failed.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) < maxErrs {
		b.errs = append(b.errs, msg)
	}
}

// Run health-checks every upstream until ctx ends, then closes the idle
// upstream connections. An upstream is ready while its /readyz answers 200
// within a second.
func (b *Balancer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, u := range b.upstreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.check(ctx, b.every)
		}()
	}
	wg.Wait()
	b.transport.CloseIdleConnections()
}

func (u *upstream) check(ctx context.Context, every time.Duration) {
	client := &http.Client{Timeout: time.Second}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.url+"/readyz", nil)
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		u.ready.Store(err == nil && res.StatusCode == http.StatusOK)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ready reports whether upstream i (in New's order) passed its last check.
func (b *Balancer) Ready(i int) bool { return b.upstreams[i].ready.Load() }

// Served is how many responses upstream i gave, whatever their status.
func (b *Balancer) Served(i int) int64 { return b.upstreams[i].served.Load() }

// Failed is how many requests the balancer answered 502 or 503.
func (b *Balancer) Failed() int64 { return b.failed.Load() }

// Errors are the first failures, each with its upstream and error.
func (b *Balancer) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}
