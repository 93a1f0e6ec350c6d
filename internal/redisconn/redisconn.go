// Package redisconn connects sessiond to Redis (standalone or Cluster, plain
// or TLS) and carries tenant-change notices between instances over pub/sub.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Options say how to reach Redis.
type Options struct {
	// URL is redis:// or rediss://, as go-redis parses it. For a cluster, more
	// seed nodes may be given as repeated addr= query parameters.
	URL string
	// Cluster selects a Redis Cluster client.
	Cluster bool
	// CAFile is a PEM bundle of CAs to trust for rediss://, for a private CA.
	CAFile string
	// PoolSize, when set, is the most connections per node (default
	// go-redis's, 10 per CPU). Connections are opened as needed.
	PoolSize int
}

// Open returns a client for Redis. It does not wait for Redis to answer.
// Cluster clients re-read the slot map every second, so writes resume within
// seconds of a failover instead of after go-redis's default 60 s. Retries are
// few, so an outage answers quickly rather than piling up waiting requests.
func Open(o Options) (redis.UniversalClient, error) {
	var tlsConf func(*tls.Config) error
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis CA file %s: no PEM certificates in it", o.CAFile)
		}
		tlsConf = func(c *tls.Config) error {
			if c == nil {
				return fmt.Errorf("REDIS_CA_FILE is set but REDIS_URL is not rediss://")
			}
			c.RootCAs = pool
			return nil
		}
	}
	if o.Cluster {
		opt, err := redis.ParseClusterURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		if tlsConf != nil {
			if err := tlsConf(opt.TLSConfig); err != nil {
				return nil, err
			}
		}
		if o.PoolSize > 0 {
			opt.PoolSize = o.PoolSize
		}
		opt.ClusterStateReloadInterval = time.Second
		opt.DisableIdentity = true
		opt.MaxRetries, opt.DialerRetries, opt.DialerRetryTimeout = failFast()
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if tlsConf != nil {
		if err := tlsConf(opt.TLSConfig); err != nil {
			return nil, err
		}
	}
	if o.PoolSize > 0 {
		opt.PoolSize = o.PoolSize
	}
	opt.DisableIdentity = true
	opt.MaxRetries, opt.DialerRetries, opt.DialerRetryTimeout = failFast()
	return redis.NewClient(opt), nil
}

// failFast returns retry settings under which a request reaches a verdict
// (503 unavailable) within a few hundred milliseconds when Redis is down,
// instead of go-redis's default of up to 3 retries of 5 dials 100 ms apart.
func failFast() (maxRetries, dialRetries int, dialBackoff time.Duration) {
	return 1, 2, 50 * time.Millisecond
}

// Notifier publishes and receives "tenant changed" notices on one channel,
// "<prefix>:tenants". A notice is "<instance id> <tenant id>"; an instance
// does not hear its own, since it has applied the change already. It
// implements tenants.Notifier.
//
// The subscription is watched: a PING goes down the subscribed connection
// every PingEvery, and a connection that brings no reply (or anything else)
// for DeadAfter is dropped and subscribed anew, so a half-open or frozen
// connection is noticed within seconds, not when TCP keepalive gives up.
// Each answered PING tells the listener that every notice published before
// that PING was sent has been delivered.
type Notifier struct {
	rdb     redis.UniversalClient
	channel string
	id      string
	log     *slog.Logger
	o       NotifierOptions

	mu       sync.Mutex
	unsent   map[string]struct{} // tenant ids whose notice failed, retried in the background
	retrying bool
}

// NotifierOptions tune a Notifier; zero values take the defaults.
type NotifierOptions struct {
	// Now stamps the PINGs (the clock the listener measures staleness on).
	// Default time.Now.
	Now func() time.Time
	// PingEvery is the interval of PINGs on the subscription. Default 500 ms.
	PingEvery time.Duration
	// DeadAfter is how long a subscription may bring nothing before it is
	// dropped and made anew. Default 2 s.
	DeadAfter time.Duration
	// PublishWait bounds how long Publish waits for Redis; a notice not sent
	// by then is retried in the background. Default 500 ms.
	PublishWait time.Duration
}

// NewNotifier returns a Notifier on the channel for prefix, with a random
// instance id.
func NewNotifier(rdb redis.UniversalClient, prefix string, log *slog.Logger, o NotifierOptions) *Notifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PingEvery <= 0 {
		o.PingEvery = 500 * time.Millisecond
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = 2 * time.Second
	}
	if o.PublishWait <= 0 {
		o.PublishWait = 500 * time.Millisecond
	}
	return &Notifier{rdb: rdb, channel: prefix + ":tenants", id: secrets.Encode(secrets.Random(8)), log: log, o: o,
		unsent: map[string]struct{}{}}
}

// Publish sends tenantID to every other subscribed instance. It returns
// within PublishWait: if Redis has not taken the notice by then (it is down,
// frozen or slow), Publish returns an error and keeps sending the notice in
// the background, with backoff, until Redis takes it or the client is
// closed.
func (n *Notifier) Publish(ctx context.Context, tenantID string) error {
	done := make(chan error, 1)
	go func() { done <- n.send(context.WithoutCancel(ctx), tenantID) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(n.o.PublishWait):
		err = fmt.Errorf("redis did not take the notice within %s", n.o.PublishWait)
	}
	if err != nil {
		n.retry(tenantID)
	}
	return err
}

func (n *Notifier) send(ctx context.Context, tenantID string) error {
	return n.rdb.Publish(ctx, n.channel, n.id+" "+tenantID).Err()
}

// retry queues tenantID's notice and makes sure one goroutine sends the
// queued notices.
func (n *Notifier) retry(tenantID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.unsent[tenantID] = struct{}{}
	if !n.retrying {
		n.retrying = true
		go n.resend()
	}
}

// resend sends the queued notices until none is left, backing off while
// Redis refuses them; it gives up only when the client is closed.
func (n *Notifier) resend() {
	backoff := 100 * time.Millisecond
	for {
		n.mu.Lock()
		var id string
		for id = range n.unsent {
			break
		}
		if id == "" {
			n.retrying = false
			n.mu.Unlock()
			return
		}
		delete(n.unsent, id)
		n.mu.Unlock()
		err := n.send(context.Background(), id)
		switch {
		case err == nil:
			backoff = 100 * time.Millisecond
			continue
		case errors.Is(err, redis.ErrClosed):
			n.mu.Lock()
			n.unsent, n.retrying = map[string]struct{}{}, false
			n.mu.Unlock()
			return
		}
		n.mu.Lock()
		n.unsent[id] = struct{}{}
		n.mu.Unlock()
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Subscribe delivers notices to l until ctx ends (see tenants.Listener):
// Ready each time the subscription is established, including after Redis
// comes back from an outage (messages sent meanwhile are lost, so the
// listener should resynchronise then), Changed for every notice, Alive for
// every answered PING, and Lost when the subscription is dropped.
func (n *Notifier) Subscribe(ctx context.Context, l tenants.Listener) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := n.rdb.Subscribe(ctx, n.channel)
		// Receive the subscription confirmation, so Ready runs only when
		// notices can no longer be missed.
		if err := n.confirm(ctx, ps); err != nil {
			_ = ps.Close()
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("tenant notices: subscribe failed; retrying", slog.String("error", err.Error()))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		l.Ready()
		err := n.watch(ctx, ps, l)
		l.Lost()
		_ = ps.Close()
		if ctx.Err() == nil {
			n.log.Warn("tenant notices: subscription lost; resubscribing", slog.String("error", err.Error()))
		}
	}
}

func (n *Notifier) confirm(ctx context.Context, ps *redis.PubSub) error {
	msg, err := ps.ReceiveTimeout(ctx, n.o.DeadAfter)
	if err != nil {
		return err
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return fmt.Errorf("unexpected %T before the subscription", msg)
	}
	return nil
}

// watch pings the subscription and reads it until it breaks, goes quiet
// for DeadAfter, is reconnected behind our back, or ctx ends.
func (n *Notifier) watch(ctx context.Context, ps *redis.PubSub, l tenants.Listener) error {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu   sync.Mutex
		sent = map[string]time.Time{} // ping payload → when it was sent
		seq  uint64
	)
	pingErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(n.o.PingEvery)
		defer t.Stop()
		for {
			mu.Lock()
			seq++
			payload := strconv.FormatUint(seq, 10)
			sent[payload] = n.o.Now()
			mu.Unlock()
			if err := ps.Ping(wctx, payload); err != nil {
				pingErr <- err
				return
			}
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	for {
		msg, err := ps.ReceiveTimeout(wctx, n.o.DeadAfter)
		if err != nil {
			select {
			case perr := <-pingErr:
				return fmt.Errorf("ping: %w", perr)
			default:
			}
			return err
		}
		switch m := msg.(type) {
		case *redis.Pong:
			mu.Lock()
			at, ok := sent[m.Payload]
			for p, t := range sent {
				if !t.After(at) {
					delete(sent, p)
				}
			}
			mu.Unlock()
			if ok {
				l.Alive(at)
			}
		case *redis.Message:
			sender, tenantID, ok := strings.Cut(m.Payload, " ")
			if ok && sender != n.id {
				l.Changed(tenantID)
			}
		case *redis.Subscription:
			// go-redis reconnected and subscribed again by itself: notices
			// may have been lost in between.
			return errors.New("the connection was replaced")
		}
	}
}
