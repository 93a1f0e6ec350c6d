// Package redisconn connects sessiond to Redis (standalone or Cluster, plain
// or TLS) and carries tenant-change notices between instances over pub/sub.
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/secrets"
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
type Notifier struct {
	rdb     redis.UniversalClient
	channel string
	id      string
	log     *slog.Logger
}

// NewNotifier returns a Notifier on the channel for prefix, with a random
// instance id.
func NewNotifier(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Notifier {
	return &Notifier{rdb: rdb, channel: prefix + ":tenants", id: secrets.Encode(secrets.Random(8)), log: log}
}

// Publish sends tenantID to every other subscribed instance.
func (n *Notifier) Publish(ctx context.Context, tenantID string) error {
	return n.rdb.Publish(ctx, n.channel, n.id+" "+tenantID).Err()
}

// Subscribe delivers notices to onChange until ctx ends, and calls onReady
// each time the subscription is established, including after Redis comes
// back from an outage (messages sent meanwhile are lost, so the subscriber
// should resynchronise then).
func (n *Notifier) Subscribe(ctx context.Context, onChange func(string), onReady func()) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := n.rdb.Subscribe(ctx, n.channel)
		// Receive the subscription confirmation, so onReady runs only when
		// notices can no longer be missed.
		if _, err := ps.Receive(ctx); err != nil {
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
		onReady()
		n.receive(ctx, ps, onChange)
		_ = ps.Close()
	}
}

// receive reads messages until the connection breaks or ctx ends.
func (n *Notifier) receive(ctx context.Context, ps *redis.PubSub, onChange func(string)) {
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("tenant notices: subscription lost; resubscribing", slog.String("error", err.Error()))
			}
			return
		}
		sender, tenantID, ok := strings.Cut(msg.Payload, " ")
		if !ok || sender == n.id {
			continue
		}
		onChange(tenantID)
	}
}
