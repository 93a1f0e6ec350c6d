package changes

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
)

// Hub defaults.
const (
	// DefaultMaxPerTenant is how many streams one tenant may hold open on
	// one instance (SESSIOND_CHANGES_MAX_STREAMS).
	DefaultMaxPerTenant = 100
	// DefaultBuffer is how many frames a subscriber may fall behind before
	// it is disconnected.
	DefaultBuffer = 1024
	// DefaultHeartbeat is the pace of `: ping` frames.
	DefaultHeartbeat = time.Second
	// backlogChunk is how many entries one XRANGE of a replay reads.
	backlogChunk = 500
	// liveChunk is how many entries one XREAD of a feed reads.
	liveChunk = 500
)

// HubOptions configure a Hub; zero values take the defaults.
type HubOptions struct {
	MaxPerTenant int
	Buffer       int
	Heartbeat    time.Duration
	Log          *slog.Logger
}

// Frame is one frame for a subscriber: a change (ID, Event, Data), a ping
// (Event ""), or the end of the stream (End, with the reason in Data).
type Frame struct {
	ID    string
	Event string
	Data  []byte
	End   bool
}

// Hub fans each tenant's stream out to this instance's subscribers: one
// feed per tenant with subscribers reads the stream (XREAD BLOCK, one
// connection per such tenant, not per subscriber) and hands every entry to
// each subscriber's bounded buffer; a subscriber whose buffer is full is
// disconnected rather than allowed to hold the others back. The feed's
// pings prove the whole path (Redis, feed, subscriber) alive: when Redis
// stops answering, the pings stop, and the feed ends its streams on the
// first error.
type Hub struct {
	rdb redis.UniversalClient
	log *Log
	o   HubOptions

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	feeds  map[string]*feed
	closed bool

	subscribers atomic.Int64
	frames      atomic.Uint64
	resets      atomic.Uint64
}

// NewHub returns a Hub reading with rdb the streams l writes. rdb should be
// a client of its own: every tenant with subscribers holds one of its
// connections in a blocking read.
func NewHub(rdb redis.UniversalClient, l *Log, o HubOptions) *Hub {
	if o.MaxPerTenant <= 0 {
		o.MaxPerTenant = DefaultMaxPerTenant
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{rdb: rdb, log: l, o: o, ctx: ctx, cancel: cancel, feeds: map[string]*feed{}}
	l.mu.Lock()
	l.onLost = h.endTenant
	l.mu.Unlock()
	return h
}

// Heartbeat is the pace of pings.
func (h *Hub) Heartbeat() time.Duration { return h.o.Heartbeat }

// Subscribers is how many streams are open on this instance.
func (h *Hub) Subscribers() int64 { return h.subscribers.Load() }

// FramesSent is how many frames (changes, resets, ready, pings) were
// written to subscribers.
func (h *Hub) FramesSent() uint64 { return h.frames.Load() }

// Resets is how many reset frames were sent.
func (h *Hub) Resets() uint64 { return h.resets.Load() }

// Sent counts one frame written (reset: it was a reset frame).
func (h *Hub) Sent(reset bool) {
	h.frames.Add(1)
	if reset {
		h.resets.Add(1)
	}
}

// Close ends every stream (they end at the instance's drain) and refuses
// new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	feeds := make([]*feed, 0, len(h.feeds))
	for _, f := range h.feeds {
		feeds = append(feeds, f)
	}
	h.mu.Unlock()
	h.cancel()
	for _, f := range feeds {
		f.endAll("shutdown")
	}
}

// endTenant ends the tenant's streams on this instance (a change of the
// tenant could not be appended).
func (h *Hub) endTenant(tenantID string) {
	h.mu.Lock()
	f := h.feeds[tenantID]
	h.mu.Unlock()
	if f != nil {
		f.endAll("unpublished_change")
	}
}

// Subscription is one subscriber's stream. Reset ("", "gap", "unknown_id")
// says whether its client must drop its cache first; Backlog replays the
// entries it missed; C then carries the live frames, and ends with an End
// frame (or is abandoned when Done is closed).
type Subscription struct {
	Reset string
	C     <-chan Frame

	c        chan Frame
	feed     *feed
	apiKeyID string
	// after is the last id the client has; upto the feed's position when
	// the subscription joined: the backlog is (after, upto].
	after, upto streamID
	backlog     bool
	ended       bool // under feed.mu
	closeOnce   sync.Once
}

// Subscribe opens a stream for tenantID, authenticated by apiKeyID,
// resuming after lastID ("" for none). Errors: fault.RateLimited (the
// tenant's streams on this instance are at the cap), fault.Unavailable
// (shutting down, Redis unreachable, a change of the tenant not yet
// appended).
func (h *Hub) Subscribe(ctx context.Context, tenantID, apiKeyID, lastID string) (*Subscription, error) {
	if h.log.Pending(tenantID) {
		return nil, fault.New(fault.Unavailable, "a change of this tenant is not yet in the changes stream; retry shortly")
	}
	sub := &Subscription{apiKeyID: apiKeyID}
	sub.c = make(chan Frame, h.o.Buffer)
	sub.C = sub.c
	for {
		f, err := h.feedOf(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		joined, err := f.join(sub, h.o.MaxPerTenant)
		if err != nil {
			return nil, err
		}
		if joined {
			break
		}
	}
	h.subscribers.Add(1)
	if err := sub.position(ctx, h.rdb, lastID); err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// feedOf returns the tenant's running feed, starting one if needed.
func (h *Hub) feedOf(ctx context.Context, tenantID string) (*feed, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fault.New(fault.Unavailable, "the instance is shutting down; reconnect")
	}
	f := h.feeds[tenantID]
	if f == nil {
		f = &feed{hub: h, tenantID: tenantID, key: h.log.Key(tenantID), subs: map[*Subscription]struct{}{}, started: make(chan struct{})}
		h.feeds[tenantID] = f
		go f.run()
	}
	f.mu.Lock()
	f.joining++ // the feed stays up until join
	f.mu.Unlock()
	h.mu.Unlock()
	select {
	case <-f.started:
	case <-ctx.Done():
		f.joined()
		return nil, fault.Wrap(ctx.Err(), fault.Unavailable, "the changes stream did not start in time")
	}
	if f.err != nil {
		f.joined()
		return nil, fault.Wrap(f.err, fault.Unavailable, "the changes stream is unavailable")
	}
	return f, nil
}

// position decides the subscription's reset and backlog from lastID: none
// without one; "unknown_id" when it is not an id of the stream (malformed,
// never written, or the stream is empty); "gap" when entries after it were
// trimmed. After a reset there is no backlog: the client starts over.
func (s *Subscription) position(ctx context.Context, rdb redis.UniversalClient, lastID string) error {
	if lastID == "" {
		return nil
	}
	id, ok := parseID(lastID)
	if !ok {
		s.Reset = "unknown_id"
		return nil
	}
	key := s.feed.key
	first, err := rdb.XRangeN(ctx, key, "-", "+", 1).Result()
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "the changes stream is unavailable")
	}
	if len(first) == 0 {
		s.Reset = "unknown_id"
		return nil
	}
	if f, _ := parseID(first[0].ID); id.less(f) {
		s.Reset = "gap"
		return nil
	}
	at, err := rdb.XRangeN(ctx, key, id.String(), id.String(), 1).Result()
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "the changes stream is unavailable")
	}
	if len(at) == 0 {
		s.Reset = "unknown_id"
		return nil
	}
	s.after, s.backlog = id, true
	return nil
}

// After is the id after which live frames are new to the client: frames at
// or before it were in the backlog or known to it already.
func (s *Subscription) After() (string, bool) {
	if !s.backlog {
		return "", false
	}
	return s.after.String(), true
}

// Backlog calls fn for each entry after the client's id up to the feed's
// position when the subscription joined, in order, reading a bounded chunk
// per Redis call. Nothing without a resumable id.
func (s *Subscription) Backlog(ctx context.Context, fn func(Frame) error) error {
	if !s.backlog || !s.after.less(s.upto) {
		return nil
	}
	rdb, key := s.feed.hub.rdb, s.feed.key
	from := s.after
	for {
		msgs, err := rdb.XRangeN(ctx, key, "("+from.String(), s.upto.String(), backlogChunk).Result()
		if err != nil {
			return fault.Wrap(err, fault.Unavailable, "reading the changes stream")
		}
		for _, m := range msgs {
			fr, ok := frameOf(m)
			if ok {
				if err := fn(fr); err != nil {
					return err
				}
			}
			from, _ = parseID(m.ID)
		}
		if len(msgs) < backlogChunk || !from.less(s.upto) {
			return nil
		}
	}
}

// Close leaves the feed. Safe to call more than once.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		s.feed.leave(s)
		s.feed.hub.subscribers.Add(-1)
	})
}

// frameOf turns a stream entry into a change frame.
func frameOf(m redis.XMessage) (Frame, bool) {
	kind, _ := m.Values[fieldKind].(string)
	data, _ := m.Values[fieldData].(string)
	if kind == "" || data == "" {
		return Frame{}, false
	}
	return Frame{ID: m.ID, Event: kind, Data: []byte(data)}, true
}

// feed reads one tenant's stream for this instance's subscribers.
type feed struct {
	hub      *Hub
	tenantID string
	key      string
	started  chan struct{} // closed once last (or err) is set
	err      error

	mu      sync.Mutex
	last    streamID
	subs    map[*Subscription]struct{}
	joining int  // subscriptions between feedOf and join
	closed  bool // removed from the hub: join a new feed
}

// joined undoes feedOf's count of a subscription on its way.
func (f *feed) joined() {
	f.mu.Lock()
	f.joining--
	f.mu.Unlock()
}

// join adds s at the feed's position (ending feedOf's count of it). false:
// the feed has stopped.
func (f *feed) join(s *Subscription, max int) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joining--
	if f.closed {
		return false, nil
	}
	if len(f.subs) >= max {
		return false, fault.New(fault.RateLimited, "this tenant already has %d changes streams open on this instance (SESSIOND_CHANGES_MAX_STREAMS)", max)
	}
	s.feed, s.upto = f, f.last
	f.subs[s] = struct{}{}
	return true, nil
}

func (f *feed) leave(s *Subscription) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}

// endAll ends every subscription with reason.
func (f *feed) endAll(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		f.endLocked(s, reason)
	}
}

// endLocked queues the End frame (when there is room: a full buffer is
// closed instead) and drops s.
func (f *feed) endLocked(s *Subscription, reason string) {
	if s.ended {
		return
	}
	s.ended = true
	delete(f.subs, s)
	select {
	case s.c <- Frame{End: true, Data: []byte(reason)}:
		close(s.c)
	default:
		close(s.c)
	}
}

// deliverLocked hands fr to every subscriber, disconnecting those whose
// buffer is full; keep (when set) picks the subscribers that get it.
func (f *feed) deliverLocked(fr Frame) {
	for s := range f.subs {
		select {
		case s.c <- fr:
		default:
			f.endLocked(s, "slow")
		}
	}
}

// run starts at the stream's last entry and reads until no subscriber is
// left, Redis fails, or the hub closes.
func (f *feed) run() {
	h := f.hub
	last, err := f.tail()
	f.mu.Lock()
	f.last, f.err = last, err
	f.mu.Unlock()
	close(f.started)
	if err != nil {
		f.stop("redis_unavailable")
		return
	}
	lastPing := time.Now()
	for {
		if f.idle() {
			return
		}
		res, err := h.rdb.XRead(h.ctx, &redis.XReadArgs{Streams: []string{f.key, last.String()}, Count: liveChunk, Block: h.o.Heartbeat}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if h.ctx.Err() == nil {
				h.o.Log.Warn("changes stream: reading failed; ending this tenant's streams", slog.String("tenant_id", f.tenantID), slog.String("error", err.Error()))
			}
			f.stop("redis_unavailable")
			return
		}
		f.mu.Lock()
		for _, st := range res {
			for _, m := range st.Messages {
				if id, ok := parseID(m.ID); ok {
					last, f.last = id, id
				}
				if fr, ok := frameOf(m); ok {
					f.deliverLocked(fr)
					f.afterLocked(fr, m)
				}
			}
		}
		if time.Since(lastPing) >= h.o.Heartbeat {
			f.deliverLocked(Frame{})
			lastPing = time.Now()
		}
		f.mu.Unlock()
	}
}

// afterLocked ends the streams a tenant frame closes: all of them when the
// tenant is suspended or deleted, an API key's when it is revoked.
func (f *feed) afterLocked(fr Frame, m redis.XMessage) {
	if fr.Event != KindTenant {
		return
	}
	var d struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(fr.Data, &d)
	switch d.Reason {
	case Suspended, Deleted:
		for s := range f.subs {
			f.endLocked(s, d.Reason)
		}
	case APIKeyRevoked:
		ak, _ := m.Values[fieldAPIKey].(string)
		for s := range f.subs {
			if ak != "" && s.apiKeyID == ak {
				f.endLocked(s, d.Reason)
			}
		}
	}
}

// tail is the id of the stream's last entry (0-0 when empty).
func (f *feed) tail() (streamID, error) {
	ctx, cancel := context.WithTimeout(f.hub.ctx, 5*time.Second)
	defer cancel()
	msgs, err := f.hub.rdb.XRevRangeN(ctx, f.key, "+", "-", 1).Result()
	if err != nil {
		return streamID{}, err
	}
	if len(msgs) == 0 {
		return streamID{}, nil
	}
	id, _ := parseID(msgs[0].ID)
	return id, nil
}

// idle removes the feed from the hub when it has no subscriber left.
func (f *feed) idle() bool {
	h := f.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if (len(f.subs) > 0 || f.joining > 0) && h.ctx.Err() == nil {
		return false
	}
	f.closed = true
	if h.feeds[f.tenantID] == f {
		delete(h.feeds, f.tenantID)
	}
	return true
}

// stop removes the feed from the hub and ends its streams.
func (f *feed) stop(reason string) {
	h := f.hub
	h.mu.Lock()
	f.mu.Lock()
	f.closed = true
	if h.feeds[f.tenantID] == f {
		delete(h.feeds, f.tenantID)
	}
	for s := range f.subs {
		f.endLocked(s, reason)
	}
	f.mu.Unlock()
	h.mu.Unlock()
}
