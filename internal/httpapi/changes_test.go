package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseFrame is one frame read from GET /v1/changes (a ping has Event "ping").
type sseFrame struct {
	ID, Event string
	Data      json.RawMessage
	At        time.Time // when the client read it
}

// changesClient reads one GET /v1/changes stream.
type changesClient struct {
	t      testing.TB
	res    *http.Response
	frames chan sseFrame
	cancel context.CancelFunc
}

// openChanges opens the stream with key, resuming after lastID ("" none),
// and fails the test unless it answers 200 text/event-stream.
func (e *env) openChanges(key, lastID string) *changesClient {
	e.t.Helper()
	c, status := e.tryChanges(key, lastID)
	if status != http.StatusOK {
		e.t.Fatalf("GET /v1/changes = %d", status)
	}
	return c
}

// tryChanges opens the stream and returns its status (the client is nil
// unless 200).
func (e *env) tryChanges(key, lastID string) (*changesClient, int) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/changes", nil)
	hr.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		hr.Header.Set("Last-Event-ID", lastID)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		cancel()
		e.t.Fatalf("GET /v1/changes: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		cancel()
		return nil, res.StatusCode
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Fatalf("Content-Type = %q", ct)
	}
	c := &changesClient{t: e.t, res: res, frames: make(chan sseFrame, 4096), cancel: cancel}
	go c.read()
	e.t.Cleanup(c.close)
	return c, res.StatusCode
}

func (c *changesClient) read() {
	defer close(c.frames)
	sc := bufio.NewScanner(c.res.Body)
	var f sseFrame
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if f.Event != "" {
				f.At = time.Now()
				c.frames <- f
			}
			f = sseFrame{}
		case line == ": ping":
			c.frames <- sseFrame{Event: "ping"}
		case strings.HasPrefix(line, "id: "):
			f.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			f.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			f.Data = json.RawMessage(line[6:])
		}
	}
}

func (c *changesClient) close() {
	c.cancel()
	c.res.Body.Close()
}

// next returns the next frame other than a ping; ok false when the stream
// ended. It fails the test after 5 s.
func (c *changesClient) next() (sseFrame, bool) {
	c.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return sseFrame{}, false
			}
			if f.Event == "ping" {
				continue
			}
			return f, true
		case <-timeout:
			c.t.Fatal("no frame on the changes stream within 5 s")
		}
	}
}

// expect returns the next frame, failing unless it is event.
func (c *changesClient) expect(event string) sseFrame {
	c.t.Helper()
	f, ok := c.next()
	if !ok {
		c.t.Fatalf("the stream ended; want %s", event)
	}
	if f.Event != event {
		c.t.Fatalf("frame %s %s; want %s", f.Event, f.Data, event)
	}
	return f
}

// expectEnd fails unless the stream ends (pings aside) within 5 s.
func (c *changesClient) expectEnd() {
	c.t.Helper()
	if f, ok := c.next(); ok {
		c.t.Fatalf("frame %s %s; want the stream to end", f.Event, f.Data)
	}
}

type sessionsChange struct {
	IDs    []string `json:"ids"`
	Reason string   `json:"reason"`
}

func (f sseFrame) sessions(t testing.TB) sessionsChange {
	t.Helper()
	var s sessionsChange
	if f.Event != "sessions" || json.Unmarshal(f.Data, &s) != nil {
		t.Fatalf("frame %s %s; want sessions", f.Event, f.Data)
	}
	return s
}

func (c *changesClient) expectSessions(reason string, ids ...string) sseFrame {
	c.t.Helper()
	f := c.expect("sessions")
	got := f.sessions(c.t)
	if got.Reason != reason || strings.Join(got.IDs, ",") != strings.Join(ids, ",") {
		c.t.Fatalf("sessions frame %s; want %s %v", f.Data, reason, ids)
	}
	if f.ID == "" {
		c.t.Fatal("a change frame without id")
	}
	return f
}

func (c *changesClient) expectTenant(reason string) map[string]any {
	c.t.Helper()
	f := c.expect("tenant")
	var d map[string]any
	_ = json.Unmarshal(f.Data, &d)
	if d["reason"] != reason {
		c.t.Fatalf("tenant frame %s; want reason %s", f.Data, reason)
	}
	return d
}

// Every kind of change arrives on a connected stream, before the call that
// made it has answered.
func TestChangesEveryKind(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	c := e.openChanges(a.APIKey, "")
	ready := c.expect("ready")
	var rd struct {
		Policy          map[string]any `json:"policy"`
		HeartbeatMS     int            `json:"heartbeat_ms"`
		TouchIntervalMS int            `json:"touch_interval_ms"`
	}
	if err := json.Unmarshal(ready.Data, &rd); err != nil || rd.Policy["idle_timeout"] != float64(1800) || rd.HeartbeatMS != 1000 || rd.TouchIntervalMS != 5000 {
		t.Fatalf("ready = %s", ready.Data)
	}

	s1 := e.createSession(a.APIKey, map[string]any{"user_id": "u1"})
	if r := e.do(req{method: "PATCH", path: "/v1/sessions/" + s1.Session.ID, token: a.APIKey, body: map[string]any{"data": map[string]any{"a": 1}}}); r.Status != http.StatusOK {
		t.Fatalf("patch = %d %s", r.Status, r.Body)
	}
	c.expectSessions("changed", s1.Session.ID)
	if r := e.do(req{method: "DELETE", path: "/v1/sessions/" + s1.Session.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	c.expectSessions("revoked", s1.Session.ID)

	s2 := e.createSession(a.APIKey, map[string]any{"user_id": "u1"})
	if r := e.do(req{method: "POST", path: "/v1/sessions/revoke", token: a.APIKey, body: map[string]any{"token": s2.Token}}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke by token = %d %s", r.Status, r.Body)
	}
	c.expectSessions("revoked", s2.Session.ID)

	s3 := e.createSession(a.APIKey, map[string]any{"user_id": "u1"})
	if r := e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": s3.Token}}); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("regenerate = %d %s", r.Status, r.Body)
	}
	c.expectSessions("regenerated", s3.Session.ID)

	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 2 })
	if d := c.expectTenant("policy"); d["policy"].(map[string]any)["max_sessions_per_user"] != float64(2) {
		t.Fatalf("policy frame = %v", d)
	}
	e.createSession(a.APIKey, map[string]any{"user_id": "u2"})
	old := e.createSession(a.APIKey, map[string]any{"user_id": "u2"})
	keep := e.createSession(a.APIKey, map[string]any{"user_id": "u2"})
	if len(keep.Evicted) != 1 {
		t.Fatalf("evicted = %v", keep.Evicted)
	}
	c.expectSessions("evicted", keep.Evicted...)

	if r := e.do(req{method: "DELETE", path: "/v1/users/u2/sessions?except=" + keep.Session.ID, token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("log out others = %d %s", r.Status, r.Body)
	}
	f := c.expect("user")
	if string(f.Data) != `{"user_id":"u2","except":"`+keep.Session.ID+`"}` {
		t.Fatalf("user frame = %s", f.Data)
	}
	_ = old
	if r := e.do(req{method: "DELETE", path: "/v1/users/u2/sessions", token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("log out everywhere = %d %s", r.Status, r.Body)
	}
	if f := c.expect("user"); string(f.Data) != `{"user_id":"u2","except":null}` {
		t.Fatalf("user frame = %s", f.Data)
	}

	if r := e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey, body: map[string]any{"grace_period": 60}}); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("rotate = %d %s", r.Status, r.Body)
	}
	c.expectTenant("key_rotated")
	retiring := e.keys(a.APIKey)[1].KID
	if r := e.do(req{method: "POST", path: "/v1/keys/" + retiring + "/retire", token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("retire = %d %s", r.Status, r.Body)
	}
	c.expectTenant("key_retired")

	// Revoking an API key ends its own streams, not the others'.
	other := e.createAPIKey(a.APIKey, "sdk", "sessions")
	oc := e.openChanges(other.Secret, "")
	oc.expect("ready")
	if r := e.do(req{method: "DELETE", path: "/v1/api-keys/" + other.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke api key = %d %s", r.Status, r.Body)
	}
	c.expectTenant("api_key_revoked")
	oc.expectTenant("api_key_revoked")
	oc.expectEnd()

	// Suspending the tenant ends every stream.
	if r := e.setStatus(a.ID, "suspended"); r.Status != http.StatusOK {
		t.Fatalf("suspend = %d %s", r.Status, r.Body)
	}
	c.expectTenant("suspended")
	c.expectEnd()
}

// A client that reconnects with Last-Event-ID gets exactly what it missed,
// then ready; an id the stream cannot resume from gets a reset first.
func TestChangesResume(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	c := e.openChanges(a.APIKey, "")
	c.expect("ready")
	s0 := e.createSession(a.APIKey, map[string]any{})
	e.do(req{method: "DELETE", path: "/v1/sessions/" + s0.Session.ID, token: a.APIKey})
	last := c.expectSessions("revoked", s0.Session.ID).ID
	c.close()

	var missed []string
	for range 3 {
		s := e.createSession(a.APIKey, map[string]any{})
		e.do(req{method: "DELETE", path: "/v1/sessions/" + s.Session.ID, token: a.APIKey})
		missed = append(missed, s.Session.ID)
	}
	c = e.openChanges(a.APIKey, last)
	for _, id := range missed {
		c.expectSessions("revoked", id)
	}
	c.expect("ready")
	// Live changes follow, once each.
	s := e.createSession(a.APIKey, map[string]any{})
	e.do(req{method: "DELETE", path: "/v1/sessions/" + s.Session.ID, token: a.APIKey})
	c.expectSessions("revoked", s.Session.ID)

	for _, tc := range []struct{ id, reason string }{
		{"not-an-id", "unknown_id"},
		{"\xff\xfe-1", "unknown_id"},
		{"99999999999999-0", "unknown_id"},
		{strings.Repeat("9", 300), "unknown_id"},
		{"0-1", "gap"},
	} {
		c := e.openChanges(a.APIKey, tc.id)
		if f := c.expect("reset"); string(f.Data) != `{"reason":"`+tc.reason+`"}` {
			t.Errorf("Last-Event-ID %q: reset %s; want %s", tc.id, f.Data, tc.reason)
		}
		c.expect("ready")
	}

	// Trimmed past the client's id: gap.
	rdb := e.app.Redis
	key := e.cfg.RedisPrefix + ":changes:{" + a.ID + "}"
	if err := rdb.XTrimMaxLen(context.Background(), key, 1).Err(); err != nil {
		t.Fatal(err)
	}
	c = e.openChanges(a.APIKey, last)
	if f := c.expect("reset"); string(f.Data) != `{"reason":"gap"}` {
		t.Fatalf("reset %s", f.Data)
	}
	c.expect("ready")
}

// Two instances on one Redis: a change made through one reaches a stream
// served by the other; a client whose instance goes away resumes on the
// other from its last id (ids live in Redis, not in an instance).
func TestChangesAcrossInstances(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	b := e.sibling()
	c := b.openChanges(a.APIKey, "")
	c.expect("ready")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "u"})
	e.do(req{method: "DELETE", path: "/v1/sessions/" + s.Session.ID, token: a.APIKey})
	last := c.expectSessions("revoked", s.Session.ID).ID

	b.app.CloseStreams() // b shuts down: its streams end
	c.expectEnd()
	s2 := e.createSession(a.APIKey, map[string]any{"user_id": "u"})
	e.do(req{method: "DELETE", path: "/v1/sessions/" + s2.Session.ID, token: a.APIKey})
	c = e.openChanges(a.APIKey, last)
	c.expectSessions("revoked", s2.Session.ID)
	c.expect("ready")
}

// A stream outlives the server's read and write timeouts: each frame
// extends the write deadline, and the read deadline is lifted.
func TestChangesOutliveServerTimeouts(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	h, err := e.app.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 500 * time.Millisecond
	srv.Config.WriteTimeout = 500 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	strict := *e
	strict.srv = srv
	c := strict.openChanges(a.APIKey, "")
	c.expect("ready")
	time.Sleep(2 * time.Second)
	s := e.createSession(a.APIKey, map[string]any{})
	e.do(req{method: "DELETE", path: "/v1/sessions/" + s.Session.ID, token: a.APIKey})
	c.expectSessions("revoked", s.Session.ID)
}

// Pings come every heartbeat while the stream is idle.
func TestChangesPings(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	c := e.openChanges(a.APIKey, "")
	c.expect("ready")
	pings := 0
	timeout := time.After(3500 * time.Millisecond)
	for pings < 2 {
		select {
		case f := <-c.frames:
			if f.Event == "ping" {
				pings++
			}
		case <-timeout:
			t.Fatalf("%d pings in 3.5 s; want 2 or more", pings)
		}
	}
}

// On Redis Cluster the stream is a key of its own slot: changes made by
// session scripts in other slots arrive, and a resume replays them.
// scripts/test starts the cluster (SESSIOND_TEST_REDIS_CLUSTER).
func TestChangesOnRedisCluster(t *testing.T) {
	e := newClusterEnv(t, "sd:cl")
	a := e.createTenant("Acme")
	other := e.sibling()
	c := other.openChanges(a.APIKey, "")
	c.expect("ready")
	var ids []string
	for i := range 5 {
		s := e.createSession(a.APIKey, map[string]any{"user_id": "u" + strconv.Itoa(i)})
		e.do(req{method: "DELETE", path: "/v1/sessions/" + s.Session.ID, token: a.APIKey})
		ids = append(ids, s.Session.ID)
	}
	first := c.expectSessions("revoked", ids[0]).ID
	for _, id := range ids[1:] {
		c.expectSessions("revoked", id)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/users/u1/sessions", token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("log out everywhere = %d %s", r.Status, r.Body)
	}
	c.expect("user")
	r := e.openChanges(a.APIKey, first)
	for _, id := range ids[1:] {
		r.expectSessions("revoked", id)
	}
	r.expect("user")
	r.expect("ready")
}
