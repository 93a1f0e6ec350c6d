package events

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Writer is the Recorder used in production. Record logs the event as one
// JSON line and queues it; a background loop writes queued events to the
// Store in batches. When the queue is full, Record drops the event rather
// than block (the log line is still written), and counts the drop.
type Writer struct {
	store     Store
	log       *slog.Logger
	now       func() time.Time
	queue     chan Event
	batchSize int
	interval  time.Duration
	dropped   atomic.Int64
	failed    atomic.Int64
	done      chan struct{}
	flushReq  chan chan struct{}
}

// WriterOptions tunes a Writer; zero values take the defaults.
type WriterOptions struct {
	QueueSize int           // default 10000
	BatchSize int           // default 500
	Interval  time.Duration // longest a queued event waits, default 200ms
	Now       func() time.Time
}

// NewWriter returns a Writer; call Run to start writing.
func NewWriter(store Store, log *slog.Logger, o WriterOptions) *Writer {
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Writer{
		store: store, log: log, now: o.Now,
		queue: make(chan Event, o.QueueSize), batchSize: o.BatchSize, interval: o.Interval,
		done: make(chan struct{}), flushReq: make(chan chan struct{}),
	}
}

// Record logs e and queues it for storage without blocking.
func (w *Writer) Record(e Event) {
	if e.Time.IsZero() {
		e.Time = w.now().UTC()
	}
	attrs := []any{
		slog.String("event", string(e.Type)),
		slog.String("tenant_id", e.TenantID),
	}
	for _, kv := range [][2]string{{"user_id", e.UserID}, {"session_id", e.SessionID}, {"ip", e.IP}, {"user_agent", e.UserAgent}, {"actor", e.Actor}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if len(e.Detail) > 0 {
		attrs = append(attrs, slog.Any("detail", e.Detail))
	}
	w.log.Info("security event", attrs...)
	select {
	case w.queue <- e:
	default:
		if n := w.dropped.Add(1); n == 1 || n%1000 == 0 {
			w.log.Warn("security event queue full; events dropped from storage", slog.Int64("dropped_total", n))
		}
	}
}

// Dropped returns how many events were not stored because the queue was full.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Run writes queued events until ctx ends, then writes what is left (with a
// short deadline) and returns.
func (w *Writer) Run(ctx context.Context) {
	defer close(w.done)
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	batch := make([]Event, 0, w.batchSize)
	for {
		select {
		case e := <-w.queue:
			batch = append(batch, e)
			if len(batch) >= w.batchSize {
				batch = w.write(batch)
			}
		case <-ticker.C:
			batch = w.write(w.drain(batch))
		case ack := <-w.flushReq:
			batch = w.write(w.drain(batch))
			close(ack)
		case <-ctx.Done():
			batch = w.drain(batch)
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			w.writeCtx(flushCtx, batch)
			cancel()
			return
		}
	}
}

// Flush writes every event recorded so far before it returns (or when ctx
// ends). Tests use it to read events back deterministically.
func (w *Writer) Flush(ctx context.Context) {
	ack := make(chan struct{})
	select {
	case w.flushReq <- ack:
	case <-ctx.Done():
		return
	case <-w.done:
		return
	}
	select {
	case <-ack:
	case <-ctx.Done():
	}
}

// Done is closed when Run has returned.
func (w *Writer) Done() <-chan struct{} { return w.done }

func (w *Writer) drain(batch []Event) []Event {
	for {
		select {
		case e := <-w.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
}

func (w *Writer) write(batch []Event) []Event {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.writeCtx(ctx, batch)
	return batch[:0]
}

func (w *Writer) writeCtx(ctx context.Context, batch []Event) {
	for start := 0; start < len(batch); start += w.batchSize {
		end := min(start+w.batchSize, len(batch))
		if err := w.store.WriteEvents(ctx, batch[start:end]); err != nil {
			n := w.failed.Add(int64(end - start))
			w.log.Error("writing security events failed; they remain in the log only",
				slog.Int("count", end-start), slog.Int64("failed_total", n), slog.String("error", err.Error()))
		}
	}
}
