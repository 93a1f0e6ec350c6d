package webhooks

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Dispatcher defaults.
const (
	DefaultWorkers     = 16
	DefaultPerEndpoint = 2
	DefaultTimeout     = 10 * time.Second
	DefaultRetryFor    = 24 * time.Hour
	DefaultPoll        = time.Second
	// firstBackoff and maxBackoff bound the wait between attempts, before
	// jitter: 5 s, 10 s, 20 s … up to an hour.
	firstBackoff = 5 * time.Second
	maxBackoff   = time.Hour
)

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	Workers     int           // deliveries sent at once by this instance
	PerEndpoint int           // deliveries to one endpoint at once, this instance
	Timeout     time.Duration // one attempt
	RetryFor    time.Duration // retried this long after the first attempt, then failed
	Poll        time.Duration // how often to look for due deliveries
	// Lease is how long a claim holds a delivery; after it another
	// instance may send it again. Default Timeout + 30 s.
	Lease        time.Duration
	AllowPrivate bool
	// Manual: Run sends nothing; only Pump does (tests that step the
	// clock and want every attempt to be their own).
	Manual bool
	Now    func() time.Time
	// Observe, if set, is told each attempt's outcome ("delivered",
	// "failed_retrying", "failed" (given up), "error") and latency.
	Observe func(outcome string, latency time.Duration)
}

// Dispatcher sends due deliveries. Several may run (one per instance).
type Dispatcher struct {
	store  Store
	opener Opener
	events events.Recorder
	log    *slog.Logger
	client *http.Client
	o      Options

	sem  chan struct{}
	mu   sync.Mutex
	busy map[string]int // endpoint id → deliveries in flight here
	wg   sync.WaitGroup
	kick chan struct{}
}

// Opener opens a sealed secret of an endpoint (the master key's sealer).
type Opener interface {
	Open(sealed, additional []byte) ([]byte, error)
}

// SealAAD binds a sealed webhook secret to its endpoint.
func SealAAD(endpointID string) []byte { return []byte("webhook:" + endpointID) }

// NewDispatcher returns a Dispatcher; call Run to start it.
func NewDispatcher(store Store, opener Opener, rec events.Recorder, log *slog.Logger, o Options) *Dispatcher {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = DefaultPerEndpoint
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryFor <= 0 {
		o.RetryFor = DefaultRetryFor
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Lease <= 0 {
		o.Lease = o.Timeout + 30*time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Dispatcher{
		store: store, opener: opener, events: rec, log: log, client: NewClient(o.Timeout, o.AllowPrivate), o: o,
		sem: make(chan struct{}, o.Workers), busy: map[string]int{}, kick: make(chan struct{}, 1),
	}
}

// Kick makes Run look for due deliveries now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx ends, then waits for the attempts in
// flight (each bounded by the timeout).
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for {
		if !d.o.Manual {
			d.claimAndSend(ctx, &d.wg)
		}
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// Pump sends what is due until nothing is, and returns how many attempts
// it made. Tests drive delivery with it.
func (d *Dispatcher) Pump(ctx context.Context) int {
	total := 0
	for {
		var wg sync.WaitGroup
		n := d.claimAndSend(ctx, &wg)
		wg.Wait()
		if n == 0 {
			return total
		}
		total += n
	}
}

// claimAndSend claims as many due deliveries as there are free workers
// and starts sending them, each counted in wg.
func (d *Dispatcher) claimAndSend(ctx context.Context, wg *sync.WaitGroup) int {
	total := 0
	for ctx.Err() == nil {
		free := cap(d.sem) - len(d.sem)
		if free == 0 {
			return total
		}
		claim := secrets.NewID("cl_")
		list, err := d.store.Claim(ctx, claim, d.o.Now(), d.o.Lease, free, d.o.PerEndpoint, d.saturated())
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("claiming webhook deliveries failed; will retry", slog.String("error", err.Error()))
			}
			return total
		}
		for _, c := range list {
			d.sem <- struct{}{}
			d.mu.Lock()
			d.busy[c.EndpointID]++
			d.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					d.mu.Lock()
					if d.busy[c.EndpointID]--; d.busy[c.EndpointID] <= 0 {
						delete(d.busy, c.EndpointID)
					}
					d.mu.Unlock()
					<-d.sem
					d.Kick() // a worker is free: the endpoint may have more due
				}()
				d.deliver(context.WithoutCancel(ctx), claim, c)
			}()
		}
		total += len(list)
		if len(list) < free {
			return total
		}
	}
	return total
}

// saturated lists the endpoints with PerEndpoint deliveries in flight
// here.
func (d *Dispatcher) saturated() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id, n := range d.busy {
		if n >= d.o.PerEndpoint {
			out = append(out, id)
		}
	}
	return out
}

// deliver makes one attempt of c and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, claim string, c Claimed) {
	a := d.send(ctx, c)
	ok := a.Status >= 200 && a.Status < 300
	var retryAt *time.Time
	outcome := "delivered"
	if !ok {
		outcome = "failed"
		if next := a.At.Add(Backoff(c.Attempts + 1)); next.Sub(c.CreatedAt) < d.o.RetryFor {
			retryAt, outcome = &next, "failed_retrying"
		}
	}
	if d.o.Observe != nil {
		d.o.Observe(outcome, a.Latency)
	}
	err := d.store.Finish(ctx, c.ID, claim, a, ok, retryAt)
	if fault.Is(err, fault.Conflict) {
		return // the lease ran out and another instance took it over
	}
	if err != nil {
		d.log.Warn("recording a webhook attempt failed; it will be sent again", slog.Int64("delivery", c.ID), slog.String("error", err.Error()))
		return
	}
	status := StatusActive
	switch {
	case outcome == "failed":
		status = StatusFailing
	case !ok, c.EndpointStatus == StatusActive: // nothing to change
		return
	}
	changed, err := d.store.SetEndpointStatus(ctx, c.EndpointID, status, a.At)
	if err != nil {
		d.log.Warn("updating a webhook endpoint's status failed", slog.String("endpoint", c.EndpointID), slog.String("error", err.Error()))
		return
	}
	if changed && status == StatusFailing {
		d.events.Record(events.Event{TenantID: c.TenantID, Type: events.WebhookEndpointFailing, Time: a.At, Actor: "system",
			Detail: map[string]string{"endpoint_id": c.EndpointID, "webhook_id": c.MsgID, "reason": "retries_exhausted"}})
	}
}

// send makes one HTTP attempt of c.
func (d *Dispatcher) send(ctx context.Context, c Claimed) Attempt {
	at := d.o.Now()
	list, err := d.secrets(c, at)
	if err != nil {
		return Attempt{Error: "secret: " + err.Error(), At: at}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return Attempt{Error: err.Error(), At: at}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sessiond-webhooks/1")
	if err := SignHeaders(req.Header, list, c.MsgID, at, c.Payload); err != nil {
		return Attempt{Error: err.Error(), At: at}
	}
	start := time.Now()
	res, err := d.client.Do(req)
	lat := time.Since(start)
	if err != nil {
		return Attempt{Error: cut(err.Error(), 300), Latency: lat, At: at}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return Attempt{Status: res.StatusCode, Latency: lat, At: at}
}

// secrets opens c's signing secrets: the current one, and the previous
// one while its overlap lasts.
func (d *Dispatcher) secrets(c Claimed, at time.Time) ([]string, error) {
	cur, err := d.opener.Open(c.Sealed.Current, SealAAD(c.EndpointID))
	if err != nil {
		return nil, err
	}
	out := []string{string(cur)}
	if c.Sealed.Previous != nil && at.Before(c.Sealed.PreviousUntil) {
		prev, err := d.opener.Open(c.Sealed.Previous, SealAAD(c.EndpointID))
		if err != nil {
			return nil, err
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// Backoff is the wait before attempt n+1 after n failed attempts:
// exponential from 5 s to an hour, with equal jitter (half fixed, half
// random), so retries of many deliveries spread out. The sum of the waits
// reaches 24 h after about 30 attempts.
func Backoff(n int) time.Duration {
	b := maxBackoff
	if n < 20 {
		b = min(firstBackoff<<max(n-1, 0), maxBackoff)
	}
	return b/2 + rand.N(b/2+1)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
