package sessiond

import (
	"bufio"
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CacheOptions bound the local session cache (WithCache). Zero values take
// the defaults.
type CacheOptions struct {
	// MaxEntries is the most sessions kept (default 10,000); the least
	// recently used go first.
	MaxEntries int
	// MaxBytes is the most bytes kept, counted as the JSON size of each
	// session (default 16 MiB).
	MaxBytes int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// WithCache makes Verify answer from a local cache of verified sessions,
// kept exact by sessiond's change stream (GET /v1/changes). A hit makes no
// network call and applies locally everything verify would: the absolute
// and idle deadlines, MaxAuthAge, the CSRF token (SHA-256, constant-time
// compare), the device binding and the assurance level (min_aal) the
// tenant's policy asks for, and MinAAL and MaxFactorAge; anything else
// (a session short of a step-up included) goes to sessiond. Keys are SHA-256 of the token, never the token.
//
// Fail closed: hits are served only while the stream is connected, caught
// up and alive (heard from within three heartbeats); otherwise every Verify
// goes to sessiond while the stream reconnects with Last-Event-ID, and a
// reset (sessiond cannot resume) drops every entry. A revocation sessiond
// acknowledged is in the stream before the acknowledgement, so once
// delivered no hit accepts it. Idle sliding: a hit sends at most one
// background verify per session per touch interval (touchEvery: 5 s, or a
// sixtieth of the session's idle timeout when longer, at most a minute), so
// sessiond's idle deadline may lag the last real use by that much.
//
// The Session a cached Verify returns is shared: treat it as read-only (the
// middleware copies Data). Call Client.Close to stop the stream.
func WithCache(o CacheOptions) Option {
	return func(c *Client) { c.cacheOpts = &o }
}

const (
	defaultHeartbeat = time.Second
	defaultTouch     = 5 * time.Second
	maxBackoff       = 5 * time.Second
)

// cacheEntry is a verify sessiond accepted.
type cacheEntry struct {
	key                    string
	answer                 Verified
	sessionID, userID      string
	expiresAt, idleExpires time.Time
	authTime               *time.Time
	aal                    int
	amr                    []Factor
	userAgent, ip          string
	csrfHash               [sha256.Size]byte
	touchedAt              time.Time
	touchEvery             time.Duration
	touching               bool
	bytes                  int
	elem                   *list.Element
}

// changePolicy is the part of the tenant policy a hit needs.
type changePolicy struct {
	Rolling *bool `json:"rolling"`
	Binding *struct {
		UserAgent string `json:"user_agent"`
		IP        string `json:"ip"`
	} `json:"binding"`
	MinAAL int `json:"min_aal"` // 0 (a sessiond before it) reads as 1
}

// CacheStats is the cache's state and counters (Client.CacheStats).
type CacheStats struct {
	Ready            bool // hits may be served
	Entries, Bytes   int
	Hits, Misses     uint64
	Connects, Resets uint64
	LastEventID      string
}

type cache struct {
	c          *Client
	maxEntries int
	maxBytes   int
	now        func() time.Time

	mu         sync.Mutex
	entries    map[string]*cacheEntry
	bySession  map[string]*cacheEntry
	byUser     map[string]map[*cacheEntry]struct{}
	lru        list.List // front: most recently used
	bytes      int
	generation uint64 // bumped on every drop and every change of the stream's state
	ready      bool
	heartbeat  time.Duration
	touchEvery time.Duration
	policy     *changePolicy
	lastID     string
	connects   uint64
	resets     uint64

	lastHeard    atomic.Int64 // unix ns
	hits, misses atomic.Uint64

	stop   context.CancelFunc
	done   chan struct{}
	stream *http.Client
}

func newCache(c *Client, o CacheOptions) *cache {
	k := &cache{
		c: c, maxEntries: o.MaxEntries, maxBytes: o.MaxBytes, now: o.Now,
		entries: map[string]*cacheEntry{}, bySession: map[string]*cacheEntry{},
		byUser: map[string]map[*cacheEntry]struct{}{}, heartbeat: defaultHeartbeat, touchEvery: defaultTouch,
		done: make(chan struct{}),
		// The stream lives long: no overall timeout, the heartbeat watchdog instead.
		stream: &http.Client{Transport: c.http.Transport},
	}
	if k.maxEntries <= 0 {
		k.maxEntries = 10000
	}
	if k.maxBytes <= 0 {
		k.maxBytes = 16 << 20
	}
	if k.now == nil {
		k.now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	k.stop = stop
	go k.run(ctx)
	return k
}

// sessiondStatus is the HTTP status sessiond answered a failed call with; 0
// when no answer came (network, timeout, the caller's context).
func sessiondStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.HTTPStatus
	}
	return 0
}

func tokenKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// verify answers from the cache when it may, else from sessiond (keeping a fresh answer).
func (k *cache) verify(ctx context.Context, p VerifyParams) (Verified, error) {
	key := tokenKey(p.Token)
	now := k.now()
	k.mu.Lock()
	e := k.entries[key]
	if e != nil && k.liveLocked(now) && k.allowsLocked(e, p, now) {
		k.lru.MoveToFront(e.elem)
		touch := !e.touching && now.Sub(e.touchedAt) >= e.touchEvery && (k.policy.Rolling == nil || *k.policy.Rolling)
		if touch {
			e.touching, e.touchedAt = true, now
		}
		v := e.answer
		gen := k.generation
		k.mu.Unlock()
		k.hits.Add(1)
		if touch {
			go k.touch(e, p.Token, gen)
		}
		return v, nil
	}
	gen := k.generation
	k.mu.Unlock()
	k.misses.Add(1)
	v, err := k.c.verifyNetwork(ctx, p)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		// A refused verify (session ended, CSRF, re-auth, binding): the entry no longer answers.
		if sessiondStatus(err) != 0 {
			k.deleteLocked(k.entries[key])
		}
		return v, err
	}
	k.keepLocked(key, p, v, gen)
	return v, nil
}

// allowsLocked reports whether e answers p at now exactly as sessiond would.
func (k *cache) allowsLocked(e *cacheEntry, p VerifyParams, now time.Time) bool {
	if !now.Before(e.expiresAt) || !now.Before(e.idleExpires) {
		return false
	}
	if p.MaxAuthAge != nil && (e.authTime == nil || now.Sub(*e.authTime) > time.Duration(*p.MaxAuthAge)*time.Second) {
		return false
	}
	if !k.stepUpMetLocked(e, p, now) {
		return false
	}
	if p.CSRFToken != nil {
		h := sha256.Sum256([]byte(*p.CSRFToken))
		if subtle.ConstantTimeCompare(h[:], e.csrfHash[:]) != 1 {
			return false
		}
	}
	b := k.policy.Binding
	if b == nil {
		return false
	}
	var ua, ip string
	if p.Device != nil {
		ua, ip = p.Device.UserAgent, p.Device.IP
	}
	if b.UserAgent != "off" && ua != e.userAgent {
		return false
	}
	if b.IP != "off" && ip != e.ip {
		return false
	}
	return true
}

// stepUpMetLocked reports whether e meets, at now, the policy's min_aal and
// p's MinAAL and MaxFactorAge. Anything sessiond would refuse as invalid (a
// level out of 1..2, too many methods) is not met either: sessiond answers.
func (k *cache) stepUpMetLocked(e *cacheEntry, p VerifyParams, now time.Time) bool {
	if p.MinAAL != 0 && (p.MinAAL < 1 || p.MinAAL > 2) {
		return false
	}
	if e.aal < max(k.policy.MinAAL, p.MinAAL, 1) {
		return false
	}
	if len(p.MaxFactorAge) > 8 {
		return false
	}
	for method, secs := range p.MaxFactorAge {
		i := slices.IndexFunc(e.amr, func(f Factor) bool { return f.Method == method })
		if i < 0 || secs < 0 || now.Sub(e.amr[i].At) > time.Duration(secs)*time.Second {
			return false
		}
	}
	return true
}

// keepLocked stores sessiond's answer v to p unless the race rule (the
// generation moved while it was in flight) or its content forbids.
func (k *cache) keepLocked(key string, p VerifyParams, v Verified, gen uint64) {
	if gen != k.generation || !k.liveLocked(k.now()) {
		return
	}
	// A re-signed token (the cookie is replaced) or a reported binding
	// mismatch (sessiond records each one) must reach sessiond every time.
	if v.Token != "" || len(v.BindingMismatch) > 0 {
		return
	}
	raw, _ := json.Marshal(v.Session)
	size := len(raw) + 256
	if size > k.maxBytes {
		return
	}
	k.deleteLocked(k.entries[key])
	k.deleteLocked(k.bySession[v.Session.ID])
	e := &cacheEntry{
		key: key, answer: v, sessionID: v.Session.ID, userID: v.Session.UserID,
		expiresAt: v.Session.ExpiresAt, idleExpires: v.Session.IdleExpiresAt, authTime: v.Session.AuthTime,
		aal: max(v.Session.AAL, 1), amr: v.Session.AMR,
		csrfHash: sha256.Sum256([]byte(v.CSRFToken)), touchedAt: k.now(), bytes: size,
		touchEvery: touchEvery(k.touchEvery, v.Session.IdleTimeout),
	}
	if p.Device != nil {
		e.userAgent, e.ip = p.Device.UserAgent, p.Device.IP
	}
	e.elem = k.lru.PushFront(e)
	k.entries[key] = e
	k.bySession[e.sessionID] = e
	if e.userID != "" {
		set := k.byUser[e.userID]
		if set == nil {
			set = map[*cacheEntry]struct{}{}
			k.byUser[e.userID] = set
		}
		set[e] = struct{}{}
	}
	k.bytes += size
	for len(k.entries) > k.maxEntries || k.bytes > k.maxBytes {
		k.deleteLocked(k.lru.Back().Value.(*cacheEntry))
	}
}

// touchEvery is the least time between two touches of a session whose idle
// timeout is idleSeconds: the stream's interval, or a sixtieth of the idle
// timeout when that is longer (at most a minute: 30 s for the default 30
// minutes), but never more than a tenth of it (sessiond's own interval for
// recording a use). sessiond's idle deadline so lags a session's last use by
// at most that.
func touchEvery(stream time.Duration, idleSeconds int) time.Duration {
	if idleSeconds <= 0 {
		return stream
	}
	idle := time.Duration(idleSeconds) * time.Second
	return min(max(stream, min(idle/60, time.Minute)), idle/10)
}

// touch slides the session's idle deadline in sessiond, in the background.
func (k *cache) touch(e *cacheEntry, token string, gen uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := k.c.verifyNetwork(ctx, VerifyParams{Token: token, Device: &DeviceIn{UserAgent: e.userAgent, IP: e.ip}})
	k.mu.Lock()
	defer k.mu.Unlock()
	e.touching = false
	if k.entries[e.key] != e {
		return
	}
	switch {
	case err == nil && gen == k.generation:
		e.idleExpires, e.expiresAt = v.Session.IdleExpiresAt, v.Session.ExpiresAt
	case err != nil && sessiondStatus(err) != 0:
		k.deleteLocked(e)
	case err != nil:
		e.touchedAt = time.Time{} // sessiond unreachable: try again on the next hit
	}
}

// forgetToken, forgetSessions, forgetUser and forgetActing drop entries (this client
// ended or changed those sessions, or the stream said so).
func (k *cache) forgetToken(token string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.generation++
	k.deleteLocked(k.entries[tokenKey(token)])
}

func (k *cache) forgetSessions(ids []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.generation++
	for _, id := range ids {
		k.deleteLocked(k.bySession[id])
	}
}

func (k *cache) forgetUser(userID, except string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.generation++
	for e := range k.byUser[userID] {
		if e.sessionID != except {
			k.deleteLocked(e)
		}
	}
}

// forgetActing drops a user's impersonated sessions (those with an actor).
func (k *cache) forgetActing(userID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.generation++
	for e := range k.byUser[userID] {
		if e.answer.Session.Actor != nil {
			k.deleteLocked(e)
		}
	}
}

func (k *cache) deleteLocked(e *cacheEntry) {
	if e == nil || k.entries[e.key] != e {
		return
	}
	delete(k.entries, e.key)
	if k.bySession[e.sessionID] == e {
		delete(k.bySession, e.sessionID)
	}
	if set := k.byUser[e.userID]; set != nil {
		delete(set, e)
		if len(set) == 0 {
			delete(k.byUser, e.userID)
		}
	}
	k.lru.Remove(e.elem)
	k.bytes -= e.bytes
}

func (k *cache) clearLocked() {
	k.generation++
	clear(k.entries)
	clear(k.bySession)
	clear(k.byUser)
	k.lru.Init()
	k.bytes = 0
}

// liveLocked reports whether hits may be served: connected, caught up,
// heard from within three heartbeats.
func (k *cache) liveLocked(now time.Time) bool {
	return k.ready && now.UnixNano()-k.lastHeard.Load() < int64(3*k.heartbeat)
}

func (k *cache) stats() CacheStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return CacheStats{
		Ready: k.liveLocked(k.now()), Entries: len(k.entries), Bytes: k.bytes,
		Hits: k.hits.Load(), Misses: k.misses.Load(), Connects: k.connects, Resets: k.resets, LastEventID: k.lastID,
	}
}

func (k *cache) close() {
	k.stop()
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ready = false
	k.clearLocked()
}

// --- the change stream ---------------------------------------------------------

// run keeps the change stream connected until ctx ends, reconnecting with
// a backoff (100 ms doubling to 5 s; back to 100 ms once caught up).
func (k *cache) run(ctx context.Context) {
	defer close(k.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if k.follow(ctx) {
			backoff = 100 * time.Millisecond
		}
		k.mu.Lock()
		if k.ready {
			k.generation++
		}
		k.ready = false
		k.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow makes one connection to the stream and applies its frames until it
// ends; it reports whether the stream became ready.
func (k *cache) follow(ctx context.Context) (wasReady bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.c.base+"/v1/changes", nil)
	if err != nil {
		return false
	}
	req.Header["Authorization"] = k.c.auth
	req.Header["User-Agent"] = k.c.ua
	req.Header.Set("Accept", "text/event-stream")
	k.mu.Lock()
	if k.lastID != "" {
		req.Header.Set("Last-Event-ID", k.lastID)
	} else if k.connects > 0 {
		// Nothing to resume from: whatever happened while down is unknown.
		k.resets++
		k.clearLocked()
	}
	k.mu.Unlock()
	k.lastHeard.Store(k.now().UnixNano())

	// The watchdog ends a connection that stays silent for three heartbeats
	// (ten while catching up).
	go func() {
		t := time.NewTicker(defaultHeartbeat / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				k.mu.Lock()
				limit := 10 * k.heartbeat
				if k.ready {
					limit = 3 * k.heartbeat
				}
				k.mu.Unlock()
				if k.now().UnixNano()-k.lastHeard.Load() >= int64(limit) {
					cancel()
					return
				}
			}
		}
	}()

	res, err := k.stream.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false
	}
	k.mu.Lock()
	k.connects++
	k.mu.Unlock()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event, data, id string
	for sc.Scan() {
		k.lastHeard.Store(k.now().UnixNano())
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if event != "" || data != "" {
				if event == "" {
					event = "message"
				}
				if !k.frame(event, data, id) {
					return wasReady
				}
				wasReady = wasReady || event == "ready"
			}
			event, data, id = "", "", ""
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // ping
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if data != "" {
				data += "\n"
			}
			data += value
		case "id":
			id = value
		}
	}
	return wasReady
}

// frame applies one server-sent event; false means "reconnect" (a frame
// that could not be read may have been a drop).
func (k *cache) frame(event, data, id string) bool {
	var d struct {
		IDs         []string        `json:"ids"`
		UserID      string          `json:"user_id"`
		Except      *string         `json:"except"`
		Policy      *changePolicy   `json:"policy"`
		HeartbeatMS int             `json:"heartbeat_ms"`
		TouchMS     int             `json:"touch_interval_ms"`
		Reason      json.RawMessage `json:"reason"`
	}
	if data != "" && json.Unmarshal([]byte(data), &d) != nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch event {
	case "reset":
		k.resets++
		k.clearLocked()
	case "sessions":
		k.generation++
		for _, sid := range d.IDs {
			k.deleteLocked(k.bySession[sid])
		}
	case "user":
		k.generation++
		except := ""
		if d.Except != nil {
			except = *d.Except
		}
		for e := range k.byUser[d.UserID] {
			if e.sessionID != except {
				k.deleteLocked(e)
			}
		}
	case "tenant":
		k.clearLocked()
		if d.Policy != nil {
			k.policy = d.Policy
		} else if string(d.Reason) == `"policy"` {
			// The policy changed but the frame lacks it (sessiond dropped
			// the change it could not publish): hits need it (binding,
			// min_aal), so reconnect after this frame; ready brings it.
			if id != "" {
				k.lastID = id
			}
			k.ready = false
			return false
		}
	case "ready":
		if d.Policy != nil {
			k.policy = d.Policy
		}
		k.heartbeat, k.touchEvery = defaultHeartbeat, defaultTouch
		if d.HeartbeatMS > 0 {
			k.heartbeat = time.Duration(d.HeartbeatMS) * time.Millisecond
		}
		if d.TouchMS > 0 {
			k.touchEvery = time.Duration(d.TouchMS) * time.Millisecond
		}
		k.ready = k.policy != nil && k.policy.Binding != nil
	default:
		k.clearLocked() // a change we do not understand: drop everything
	}
	if id != "" {
		k.lastID = id
	}
	return true
}
