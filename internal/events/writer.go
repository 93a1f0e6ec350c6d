package events

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Writer is the Recorder used in production. Record sanitises the event (see
// Event.Sanitized), logs it as one JSON line and queues it; a background loop
// writes queued events to the Store in batches. When the queue is full,
// Record drops the event rather than block (the log line is still written),
// and counts the drop. When the Store refuses a batch, its events are written
// one by one, so one bad event cannot take the others with it; only those
// that still fail are counted as dropped.
type Writer struct {
	store         Store
	log           *slog.Logger
	now           func() time.Time
	queue         chan Event
	batchSize     int
	interval      time.Duration
	dropped       atomic.Int64
	writeFailures atomic.Int64
	done          chan struct{}
	flushReq      chan chan struct{}
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

// Record sanitises e, logs it and queues it for storage without blocking.
func (w *Writer) Record(e Event) {
	e = e.Sanitized()
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

// Dropped returns how many recorded events were not stored: those dropped
// because the queue was full, and those the Store refused even one by one.
// Every one of them was still logged.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// WriteFailures returns how many writes to the Store failed: each refused
// batch, and each event that then failed on its own.
func (w *Writer) WriteFailures() int64 { return w.writeFailures.Load() }

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
		chunk := batch[start:min(start+w.batchSize, len(batch))]
		err := w.store.WriteEvents(ctx, chunk)
		if err == nil {
			continue
		}
		w.writeFailures.Add(1)
		lost := len(chunk)
		if len(chunk) > 1 {
			// A batch is all or nothing: write the events one by one, so that
			// only those to blame are lost.
			w.log.Warn("writing a batch of security events failed; writing them one by one",
				slog.Int("count", len(chunk)), slog.String("error", err.Error()))
			lost, err = w.writeEach(ctx, chunk)
		}
		if lost > 0 {
			n := w.dropped.Add(int64(lost))
			w.log.Error("security events could not be stored; they remain in the log only",
				slog.Int("count", lost), slog.Int64("dropped_total", n), slog.String("error", err.Error()))
		}
	}
}

// writeEach stores the events of a refused batch one at a time and returns
// how many still failed, with the last error.
func (w *Writer) writeEach(ctx context.Context, batch []Event) (lost int, last error) {
	for i := range batch {
		if err := w.store.WriteEvents(ctx, batch[i:i+1]); err != nil {
			w.writeFailures.Add(1)
			lost, last = lost+1, err
		}
	}
	return lost, last
}
