package events

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// DropReason says why an event was not stored. Every dropped event was
// still logged as its JSON line when it was recorded.
type DropReason string

// The reasons an event is not stored.
const (
	// DropTenantQueueFull: the event's tenant had its whole share of the
	// in-memory queue waiting (its own burst); other tenants are not
	// affected.
	DropTenantQueueFull DropReason = "tenant_queue_full"
	// DropQueueFull: the in-memory queue of all tenants was full and the
	// event's tenant held the largest share of it.
	DropQueueFull DropReason = "queue_full"
	// DropStorageUnavailable: neither PostgreSQL nor the spool (Redis)
	// could take events, and the event did not fit in the memory bound
	// (or the instance stopped before they came back).
	DropStorageUnavailable DropReason = "storage_unavailable"
	// DropSpoolFull: PostgreSQL was unavailable and the spool held its
	// maximum (SESSIOND_EVENT_SPOOL_MAX).
	DropSpoolFull DropReason = "spool_full"
	// DropRejected: PostgreSQL refused the event even on its own, or its
	// spooled copy could not be read back.
	DropRejected DropReason = "rejected"
)

// DropReasons returns every DropReason, in a stable order.
func DropReasons() []DropReason {
	return []DropReason{DropTenantQueueFull, DropQueueFull, DropStorageUnavailable, DropSpoolFull, DropRejected}
}

// TenantCount is a count of one tenant's events, for metrics: dropped ones
// (with their Reason) or suppressed ones (Reason "").
type TenantCount struct {
	TenantID string
	Reason   DropReason
	Count    int64
}

// Writer is the Recorder used in production. Record sanitises the event
// (see Event.Sanitized), gives it a unique id, logs it as one JSON line and
// queues it, without I/O; a background loop stores queued events in the
// Store in batches.
//
// Fairness: each tenant has its own queue, bounded by
// WriterOptions.TenantQueueSize, under a bound for all tenants
// (QueueSize); batches take from every waiting tenant in turn. When the
// whole queue is full, the tenant with the largest share loses its newest
// event, so no tenant can make another's events drop. Each tenant also has
// an events-per-minute ceiling (EventsPerMinute): beyond it, its events are
// counted instead of stored, and one EventsSuppressed event per minute
// holds the counts per type.
//
// Durability: when the Store cannot take a batch (refused or timed out
// connections), the batch goes to the Spool, and a second loop writes the
// spool back to the Store, in order, once it answers again. If the spool
// is unavailable too, the batch waits in memory (still bounded) and is
// retried. When the Store refuses a batch for its content, its events are
// written one by one, so one bad event cannot take the others with it.
//
// What cannot be kept is counted per tenant and DropReason (Drops) and
// logged with the reason.
type Writer struct {
	store        Store
	spool        Spool
	log          *slog.Logger
	now          func() time.Time
	perMinute    func(tenantID string) int
	batchSize    int
	queueSize    int
	tenantQueue  int
	interval     time.Duration
	writeTimeout time.Duration

	mu      sync.Mutex
	tenants map[string]*tenantState
	ring    []*tenantState // tenants with queued events, in turn order
	queued  int
	// spare is the array of the largest queue take emptied since a queue
	// last started, cleared, for the next queue to start (one array: what
	// is kept stays within a tenant's bound).
	spare []Event

	statsMu    sync.Mutex
	drops      map[TenantCount]int64 // Count unused in the key
	suppressed map[string]int64

	storageDown   atomic.Bool
	written       atomic.Int64
	writeFailures atomic.Int64
	spoolDepth    atomic.Int64

	// Owned by Run's goroutine.
	spoolMode bool
	held      []Event
	// batchBuf is the array of the last batch delivered, for the next.
	batchBuf []Event

	wake      chan struct{}
	flushReq  chan chan struct{}
	drainReq  chan chan struct{}
	drainKick chan struct{}
	done      chan struct{}
}

// tenantState is one tenant's queue and its events-per-minute window.
type tenantState struct {
	id         string
	queue      []Event
	inRing     bool
	minute     time.Time // start of the current window
	count      int       // events recorded in it
	suppressed map[Type]int
}

// WriterOptions tunes a Writer; zero values take the defaults.
type WriterOptions struct {
	QueueSize       int           // events waiting in memory, all tenants; default 20000
	TenantQueueSize int           // events waiting in memory, per tenant; default QueueSize/4
	BatchSize       int           // default 500
	Interval        time.Duration // longest a queued event waits, default 200ms
	// WriteTimeout bounds one write to the Store; past it the batch goes to
	// the spool. Default 5s.
	WriteTimeout time.Duration
	// Spool keeps events while the Store is unavailable; nil keeps them in
	// memory only (bounded by QueueSize).
	Spool Spool
	// EventsPerMinute is a tenant's ceiling of stored events per minute
	// (of Now's clock); 0 is unlimited. Nil is unlimited for every tenant.
	EventsPerMinute func(tenantID string) int
	Now             func() time.Time
}

// NewWriter returns a Writer; call Run to start writing.
func NewWriter(store Store, log *slog.Logger, o WriterOptions) *Writer {
	if o.QueueSize <= 0 {
		o.QueueSize = 20000
	}
	if o.TenantQueueSize <= 0 {
		o.TenantQueueSize = max(o.QueueSize/4, 1)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventsPerMinute == nil {
		o.EventsPerMinute = func(string) int { return 0 }
	}
	return &Writer{
		store: store, spool: o.Spool, log: log, now: o.Now, perMinute: o.EventsPerMinute,
		batchSize: o.BatchSize, queueSize: o.QueueSize, tenantQueue: min(o.TenantQueueSize, o.QueueSize),
		interval: o.Interval, writeTimeout: o.WriteTimeout,
		tenants: map[string]*tenantState{}, drops: map[TenantCount]int64{}, suppressed: map[string]int64{},
		wake: make(chan struct{}, 1), flushReq: make(chan chan struct{}), drainReq: make(chan chan struct{}),
		drainKick: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// Record sanitises e, gives it an id (if it has none) and a time (if it
// has none), logs it and queues it for storage without blocking or I/O. An
// event whose actor is the operator is stored without the operator's IP
// and user agent (Event.ForTenant); its log line keeps them.
func (w *Writer) Record(e Event) {
	e = e.Sanitized()
	if e.Time.IsZero() {
		e.Time = w.now().UTC()
	}
	if _, ok := ParseID(e.ID); !ok {
		e.ID = NewID()
	}
	w.logEvent(e)
	w.enqueue(e.ForTenant(), w.perMinute(e.TenantID))
}

func (w *Writer) logEvent(e Event) {
	ctx, h := context.Background(), w.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// The line's Record made here, as Logger.LogAttrs would make it but
	// without the caller's program counter (runtime.Callers), which no
	// line shows; the device group without Group's []any boxing.
	var buf [10]slog.Attr // added at once: the Record grows once
	attrs := append(buf[:0], slog.String("event", string(e.Type)), slog.String("event_id", e.ID), slog.String("tenant_id", e.TenantID))
	for _, kv := range [...][2]string{{"user_id", e.UserID}, {"session_id", e.SessionID}, {"ip", e.IP}, {"user_agent", e.UserAgent}, {"actor", e.Actor}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if d := e.Device; d != nil {
		attrs = append(attrs, slog.Attr{Key: "device", Value: slog.GroupValue(slog.String("ip", d.IP), slog.String("user_agent", d.UserAgent), slog.String("label", d.Label))})
	}
	if len(e.Detail) > 0 {
		attrs = append(attrs, slog.Any("detail", e.Detail))
	}
	line := slog.NewRecord(time.Now(), slog.LevelInfo, "security event", 0)
	line.AddAttrs(attrs...)
	_ = h.Handle(ctx, line)
}

// enqueue queues e, or counts it as suppressed when its tenant is over
// limit events this minute (0: no limit), or drops it when its share of
// the queue is full.
func (w *Writer) enqueue(e Event, limit int) {
	w.mu.Lock()
	t := w.tenant(e.TenantID)
	if summary, ok := t.rollMinute(w.now()); ok {
		w.pushSummary(t, summary)
	}
	t.count++
	if limit > 0 && t.count > limit {
		t.suppressed[e.Type]++
		w.mu.Unlock()
		w.countSuppressed(e.TenantID)
		return
	}
	victim, reason, admitted := w.admit(t)
	if admitted {
		w.push(t, e)
	}
	full := w.queued >= w.batchSize
	w.mu.Unlock()
	switch {
	case !admitted:
		w.drop(e.TenantID, reason, 1, e.ID, nil)
	case victim != nil:
		w.drop(victim.TenantID, reason, 1, victim.ID, nil)
	}
	if full {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// tenant returns id's state, making it. Called with mu held.
func (w *Writer) tenant(id string) *tenantState {
	t := w.tenants[id]
	if t == nil {
		t = &tenantState{id: id, suppressed: map[Type]int{}}
		w.tenants[id] = t
	}
	return t
}

// rollMinute starts a new window when now is past the current one, and
// returns the summary of the ended window if it suppressed anything.
func (t *tenantState) rollMinute(now time.Time) (Event, bool) {
	minute := now.Truncate(time.Minute)
	if minute.Equal(t.minute) {
		return Event{}, false
	}
	summary, ok := t.summary(t.minute.Add(time.Minute))
	t.minute, t.count = minute, 0
	return summary, ok
}

// summary returns the EventsSuppressed event of the current window, dated
// at, and clears the counts, or false when nothing was suppressed.
func (t *tenantState) summary(at time.Time) (Event, bool) {
	if len(t.suppressed) == 0 {
		return Event{}, false
	}
	detail := make(map[string]string, len(t.suppressed))
	for typ, n := range t.suppressed {
		detail[string(typ)] = strconv.Itoa(n)
	}
	clear(t.suppressed)
	return Event{ID: NewID(), TenantID: t.id, Type: EventsSuppressed, Time: at.UTC(), Detail: detail}.Sanitized(), true
}

// admit makes room for one more event of t: it reports false (and the
// reason) when t's share is full, or when the whole queue is full and t
// holds the largest share; otherwise, if the queue is full, it evicts the
// newest event of the tenant with the largest share and returns it.
// Called with mu held.
func (w *Writer) admit(t *tenantState) (victim *Event, reason DropReason, ok bool) {
	down := w.storageDown.Load()
	if len(t.queue) >= w.tenantQueue {
		return nil, pick(down, DropTenantQueueFull), false
	}
	if w.queued < w.queueSize {
		return nil, "", true
	}
	big := slices.MaxFunc(w.ring, func(a, b *tenantState) int { return cmp.Compare(len(a.queue), len(b.queue)) })
	if len(big.queue) <= len(t.queue)+1 {
		return nil, pick(down, DropQueueFull), false
	}
	last := big.queue[len(big.queue)-1]
	big.queue = big.queue[:len(big.queue)-1]
	w.queued--
	return &last, pick(down, DropQueueFull), true
}

func pick(storageDown bool, r DropReason) DropReason {
	if storageDown {
		return DropStorageUnavailable
	}
	return r
}

// push appends e to t's queue. Called with mu held.
func (w *Writer) push(t *tenantState, e Event) {
	if t.queue == nil {
		t.queue, w.spare = w.spare, nil
	}
	t.queue = append(t.queue, e)
	w.queued++
	if !t.inRing {
		t.inRing = true
		w.ring = append(w.ring, t)
	}
}

// take removes up to n queued events, an equal share from each waiting
// tenant in turn, each tenant's in the order recorded, and returns them in
// buf's array when it has room.
func (w *Writer) take(n int, buf []Event) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch := buf[:0]
	if want := min(n, w.queued); cap(batch) < want {
		batch = make([]Event, 0, want)
	}
	for len(batch) < n && len(w.ring) > 0 {
		share := max((n-len(batch))/len(w.ring), 1)
		kept := w.ring[:0]
		for _, t := range w.ring {
			k := min(share, len(t.queue), n-len(batch))
			batch = append(batch, t.queue[:k]...)
			w.queued -= k
			if k < len(t.queue) {
				clear(t.queue[:k])
				t.queue = t.queue[k:]
				kept = append(kept, t)
				continue
			}
			if cap(t.queue) > cap(w.spare) {
				clear(t.queue[:cap(t.queue)]) // and what admit evicted past its end
				w.spare = t.queue[:0]
			}
			t.queue, t.inRing = nil, false
		}
		clear(w.ring[len(kept):])
		w.ring = kept
	}
	return batch
}

// summarize queues the summary of every window that has ended (every
// window, when all), and forgets tenants with nothing left to track.
func (w *Writer) summarize(all bool) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, t := range w.tenants {
		if !t.inRing && len(t.suppressed) == 0 && !t.minute.Equal(now.Truncate(time.Minute)) {
			delete(w.tenants, id)
			continue
		}
		summary, ok := t.rollMinute(now)
		if all && !ok {
			summary, ok = t.summary(now)
		}
		if ok {
			w.pushSummary(t, summary)
		}
	}
}

// pushSummary logs an EventsSuppressed event and queues it, whatever the
// bounds (there is one per tenant and minute). Called with mu held.
func (w *Writer) pushSummary(t *tenantState, summary Event) {
	w.logEvent(summary)
	w.push(t, summary)
}

// Drops returns how many events were not stored, per tenant and reason
// (Count set), in a stable order. Every one was still logged.
func (w *Writer) Drops() []TenantCount {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	out := make([]TenantCount, 0, len(w.drops))
	for k, n := range w.drops {
		k.Count = n
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b TenantCount) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// Dropped returns how many recorded events were not stored, for every
// tenant and reason (see Drops).
func (w *Writer) Dropped() int64 {
	var n int64
	for _, d := range w.Drops() {
		n += d.Count
	}
	return n
}

// Suppressed returns, per tenant, how many events were over its
// events-per-minute ceiling and so were stored only as counts in an
// EventsSuppressed event.
func (w *Writer) Suppressed() []TenantCount {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	out := make([]TenantCount, 0, len(w.suppressed))
	for _, id := range slices.Sorted(maps.Keys(w.suppressed)) {
		out = append(out, TenantCount{TenantID: id, Count: w.suppressed[id]})
	}
	return out
}

// Written returns how many events this writer stored in the Store (from
// memory or from the spool; an event another instance stored first may be
// counted by both).
func (w *Writer) Written() int64 { return w.written.Load() }

// WriteFailures returns how many writes to the Store failed: each failed
// batch, and each event that then failed on its own.
func (w *Writer) WriteFailures() int64 { return w.writeFailures.Load() }

// SpoolDepth returns how many events the spool held when this writer last
// looked (0 without a spool).
func (w *Writer) SpoolDepth() int64 { return w.spoolDepth.Load() }

func (w *Writer) countSuppressed(tenantID string) {
	w.statsMu.Lock()
	w.suppressed[tenantID]++
	w.statsMu.Unlock()
}

// drop counts n events of tenantID as not stored for reason and logs it:
// always for rejected events and lost batches (with the ids, or the error),
// and for queue drops at the first and every 1000th of a tenant and reason.
func (w *Writer) drop(tenantID string, reason DropReason, n int, firstID string, err error) {
	key := TenantCount{TenantID: tenantID, Reason: reason}
	w.statsMu.Lock()
	before := w.drops[key]
	w.drops[key] = before + int64(n)
	w.statsMu.Unlock()
	total := before + int64(n)
	if n == 1 && err == nil && before%1000 != 0 && (reason == DropTenantQueueFull || reason == DropQueueFull || reason == DropStorageUnavailable) {
		return
	}
	attrs := []slog.Attr{
		slog.String("reason", string(reason)), slog.String("tenant_id", tenantID), slog.Int("count", n),
		slog.String("event_id", firstID), slog.Int64("dropped_total", total),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	w.log.LogAttrs(context.Background(), slog.LevelError, "security events not stored; they remain in the log only", attrs...)
}

// dropAll counts every event of batch as not stored for reason.
func (w *Writer) dropAll(batch []Event, reason DropReason, err error) {
	for _, e := range batch {
		w.drop(e.TenantID, reason, 1, e.ID, err)
	}
}

// Run writes queued events until ctx ends, then writes what is left (with a
// short deadline) and returns. It also runs the loop that writes spooled
// events back to the Store.
func (w *Writer) Run(ctx context.Context) {
	defer close(w.done)
	drainCtx, stopDrain := context.WithCancel(context.WithoutCancel(ctx))
	drained := make(chan struct{})
	go w.drainLoop(drainCtx, drained)
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-w.wake:
			w.pump(ctx, false)
		case <-ticker.C:
			w.summarize(false)
			w.pump(ctx, true)
		case ack := <-w.flushReq:
			w.summarize(false)
			w.pump(ctx, true)
			w.drainNow(ctx)
			close(ack)
		case <-ctx.Done():
			stopDrain()
			<-drained
			w.shutdown()
			return
		}
	}
}

// shutdown stores (or spools) what is in memory within a few seconds, and
// counts what is left as lost.
func (w *Writer) shutdown() {
	w.summarize(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.pump(ctx, true)
	if w.held != nil {
		w.dropAll(w.held, DropStorageUnavailable, errors.New("stopped while storage was unavailable"))
		w.held = nil
	}
	w.dropAll(w.take(math.MaxInt, nil), DropStorageUnavailable, errors.New("stopped while storage was unavailable"))
}

// Flush stores every event recorded so far (and whatever the spool holds,
// if the Store answers) before it returns, or returns when ctx ends.
// Summaries of ended minutes are queued first. Tests use it to read events
// back deterministically.
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

// pump delivers queued events in batches: full batches only, unless all.
// A batch that neither the Store nor the spool took is held and retried
// first next time, and nothing more is taken meanwhile.
func (w *Writer) pump(ctx context.Context, all bool) {
	if w.held != nil {
		batch := w.held
		w.held = nil
		if !w.deliver(ctx, batch) {
			return
		}
	}
	for {
		w.mu.Lock()
		n := w.queued
		w.mu.Unlock()
		if n == 0 || (!all && n < w.batchSize) || ctx.Err() != nil {
			return
		}
		batch := w.take(w.batchSize, w.batchBuf)
		w.batchBuf = nil // a batch held keeps its array
		if !w.deliver(ctx, batch) {
			return
		}
		clear(batch)
		w.batchBuf = batch[:0]
	}
}

// deliver stores batch, or spools it when the Store cannot take it, and
// reports false (holding the batch) when neither could. While this writer
// has spooled events not yet written back, new batches go to the spool
// too, so the Store receives them in the order recorded.
func (w *Writer) deliver(ctx context.Context, batch []Event) bool {
	if w.spoolMode {
		if depth, err := w.spool.Depth(ctx); err == nil && depth == 0 {
			w.spoolMode = false
		}
	}
	triedStore := false
	if !w.spoolMode {
		triedStore = true
		if batch = w.storeBatch(ctx, batch); len(batch) == 0 {
			w.storageDown.Store(false)
			return true
		}
		w.spoolMode = w.spool != nil
	}
	if w.spool != nil {
		kept, depth, err := w.spool.Push(ctx, batch)
		if err == nil {
			w.spoolDepth.Store(depth)
			w.storageDown.Store(false)
			w.dropAll(batch[kept:], DropSpoolFull, nil)
			select {
			case w.drainKick <- struct{}{}:
			default:
			}
			return true
		}
		w.log.Warn("spooling security events failed; keeping them in memory", slog.Int("count", len(batch)), slog.String("error", err.Error()))
		if !triedStore { // the spool is down: the Store may be back
			if batch = w.storeBatch(ctx, batch); len(batch) == 0 {
				return true
			}
		}
	}
	w.storageDown.Store(true)
	w.held = batch
	return false
}

// storeBatch writes batch to the Store and returns the events it could not
// write because the Store was unavailable (refused, timed out), in order.
// Events the Store refuses for their content are retried one by one, and
// those refused alone are dropped (DropRejected).
func (w *Writer) storeBatch(ctx context.Context, batch []Event) []Event {
	for start := 0; start < len(batch); start += w.batchSize {
		chunk := batch[start:min(start+w.batchSize, len(batch))]
		err := w.write(ctx, chunk)
		if err == nil {
			continue
		}
		if unavailable(err) {
			w.log.Warn("the database did not take a batch of security events; spooling it",
				slog.Int("count", len(chunk)), slog.String("error", err.Error()))
			return batch[start:]
		}
		if len(chunk) > 1 {
			w.log.Warn("writing a batch of security events failed; writing them one by one",
				slog.Int("count", len(chunk)), slog.String("error", err.Error()))
		}
		for i := range chunk {
			if len(chunk) > 1 {
				err = w.write(ctx, chunk[i:i+1])
			}
			switch {
			case err == nil:
			case unavailable(err):
				return batch[start+i:]
			default:
				w.drop(chunk[i].TenantID, DropRejected, 1, chunk[i].ID, err)
			}
		}
	}
	return nil
}

// write is one Store write within the write timeout, counted.
func (w *Writer) write(ctx context.Context, batch []Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.writeTimeout)
	defer cancel()
	if err := w.store.WriteEvents(ctx, batch); err != nil {
		w.writeFailures.Add(1)
		return err
	}
	w.written.Add(int64(len(batch)))
	return nil
}

// unavailable reports whether err means the Store may take the same write
// later: fault.Unavailable, or a deadline or cancellation.
func unavailable(err error) bool {
	return fault.Is(err, fault.Unavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// drainLoop writes the spool back to the Store: when kicked (this writer
// spooled), when asked (Flush), and every second (another instance may
// have spooled), until ctx ends.
func (w *Writer) drainLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	if w.spool == nil {
		for {
			select {
			case <-ctx.Done():
				return
			case ack := <-w.drainReq:
				close(ack)
			}
		}
	}
	ticker := time.NewTicker(max(w.interval, time.Second))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ack := <-w.drainReq:
			w.drainSpool(ctx)
			close(ack)
		case <-w.drainKick:
			w.drainSpool(ctx)
		case <-ticker.C:
			w.drainSpool(ctx)
		}
	}
}

// drainNow runs one drain of the spool to its end (or to the Store's
// failure) and waits for it.
func (w *Writer) drainNow(ctx context.Context) {
	ack := make(chan struct{})
	select {
	case w.drainReq <- ack:
	case <-ctx.Done():
		return
	}
	select {
	case <-ack:
	case <-ctx.Done():
	}
}

// drainSpool moves spooled events to the Store, a batch at a time from the
// head: read, store, then remove what was stored (or dropped), until the
// spool is empty, the Store or the spool fails, or ctx ends.
func (w *Writer) drainSpool(ctx context.Context) {
	for ctx.Err() == nil {
		entries, err := w.spool.Peek(ctx, w.batchSize)
		if err != nil {
			return
		}
		if len(entries) == 0 {
			w.spoolDepth.Store(0)
			return
		}
		batch := make([]Event, 0, len(entries))
		for _, en := range entries {
			if en.Err != nil {
				w.drop("", DropRejected, 1, en.Key, en.Err)
				continue
			}
			batch = append(batch, en.Event)
		}
		left := w.storeBatch(ctx, batch)
		done := len(entries)
		if len(left) > 0 { // remove only the entries before the first unwritten one
			done = max(slices.IndexFunc(entries, func(en SpoolEntry) bool { return en.Err == nil && en.Event.ID == left[0].ID }), 0)
		}
		if done > 0 {
			_, depth, err := w.spool.Remove(ctx, entries[:done])
			if err != nil {
				return
			}
			w.spoolDepth.Store(depth)
		}
		if len(left) > 0 {
			return
		}
	}
}
