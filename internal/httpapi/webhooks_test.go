package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/events/redisspool"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// receiver is a webhook endpoint in the test: it records what it was
// sent and answers as told (up, down with 503, or never).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	mode   string         // "up", "down", "hang"
	got    map[string]int // webhook-id → 2xx answers
	tries  int
	bodies map[string][]byte
	heads  map[string]http.Header
	hang   chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{mode: "up", got: map[string]int{}, bodies: map[string][]byte{}, heads: map[string]http.Header{}, hang: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		mode := rc.mode
		rc.tries++
		rc.mu.Unlock()
		switch mode {
		case "hang":
			select {
			case <-rc.hang:
			case <-r.Context().Done():
			}
			return
		case "down":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		rc.got[id]++
		rc.bodies[id], rc.heads[id] = body, r.Header.Clone()
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	t.Cleanup(func() { close(rc.hang) }) // runs first: hung handlers return
	return rc
}

func (rc *receiver) set(mode string) {
	rc.mu.Lock()
	rc.mode = mode
	rc.mu.Unlock()
}

func (rc *receiver) triesSoFar() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tries
}

func (rc *receiver) received() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.got))
	for k, v := range rc.got {
		out[k] = v
	}
	return out
}

type webhookOut struct {
	ID                  string   `json:"id"`
	URL                 string   `json:"url"`
	Status              string   `json:"status"`
	EventTypes          []string `json:"event_types"`
	Secret              string   `json:"secret"`
	PreviousSecretUntil string   `json:"previous_secret_until"`
}

func (e *env) createWebhook(key string, body map[string]any) webhookOut {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/webhooks", token: key, body: body})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	var out webhookOut
	r.decode(e.t, &out)
	return out
}

// pump flushes events to PostgreSQL (and so to the outbox) and sends what
// is due.
func (e *env) pump() {
	e.flushEvents()
	e.app.Dispatcher.Pump(context.Background())
}

func hookEnv(t *testing.T) *env {
	return newEnv(t, envOptions{WebhookAllowPrivate: true, Webhooks: webhooks.Options{Manual: true, Timeout: 2 * time.Second}})
}

// allEventIDs lists the ids of a tenant's stored events of the given types.
func (e *env) allEventIDs(key string, types ...string) map[string]bool {
	e.t.Helper()
	var page struct {
		Events []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events?limit=200", token: key}).decode(e.t, &page)
	out := map[string]bool{}
	for _, ev := range page.Events {
		for _, typ := range types {
			if ev.Type == typ {
				out[ev.ID] = true
			}
		}
	}
	return out
}

func TestWebhookEndpointsAPI(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	w := e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL + "/hook", "event_types": []string{"session.created"}, "description": "crm"})
	if !strings.HasPrefix(w.Secret, "whsec_") || w.Status != "active" || len(w.EventTypes) != 1 {
		t.Fatalf("created %+v", w)
	}
	var list struct {
		Webhooks []webhookOut `json:"webhooks"`
	}
	e.do(req{method: "GET", path: "/v1/webhooks", token: a.APIKey}).decode(t, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].Secret != "" {
		t.Fatalf("list = %+v (a listing never shows a secret)", list)
	}
	r := e.do(req{method: "PATCH", path: "/v1/webhooks/" + w.ID, token: a.APIKey, body: map[string]any{"event_types": []string{}}})
	var patched webhookOut
	r.decode(t, &patched)
	if r.Status != http.StatusOK || len(patched.EventTypes) != 0 {
		t.Fatalf("patch = %d %s", r.Status, r.Body)
	}
	other := e.createTenant("Other")
	if r := e.do(req{method: "GET", path: "/v1/webhooks/" + w.ID, token: other.APIKey}); r.Status != http.StatusNotFound {
		t.Fatalf("another tenant reads the endpoint: %d", r.Status)
	}
	if r := e.do(req{method: "POST", path: "/v1/webhooks", token: a.APIKey, body: map[string]any{"url": rc.srv.URL, "event_types": []string{"nope"}}}); r.Status != http.StatusBadRequest {
		t.Fatalf("unknown event type = %d", r.Status)
	}
	// The operator's ceiling on endpoints.
	e.setLimits(a.ID, map[string]any{"webhook_endpoints": 2})
	e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL})
	if r := e.do(req{method: "POST", path: "/v1/webhooks", token: a.APIKey, body: map[string]any{"url": rc.srv.URL}}); r.Status != http.StatusConflict {
		t.Fatalf("third endpoint over a ceiling of 2 = %d %s", r.Status, r.Body)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/webhooks/" + w.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("delete = %d", r.Status)
	}
	if r := e.do(req{method: "GET", path: "/v1/webhooks/" + w.ID, token: a.APIKey}); r.Status != http.StatusNotFound {
		t.Fatalf("deleted endpoint = %d", r.Status)
	}
}

// Without SESSIOND_WEBHOOK_ALLOW_PRIVATE, an endpoint must be https and
// public: loopback, private, link-local and metadata addresses are refused
// in every spelling.
func TestWebhookURLsMustBePublicHTTPS(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	for _, u := range []string{
		"http://example.com/hook",
		"https://127.0.0.1/hook", "https://127.1.2.3:8443/", "https://localhost/", "https://app.localhost/",
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/", "https://[64:ff9b::a9fe:a9fe]/",
		"https://10.0.0.1/", "https://192.168.1.1/", "https://172.16.0.1/", "https://100.64.0.1/",
		"https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/", "https://[fe80::1]/", "https://0.0.0.0/",
		"https://[::]/", "https://user:pw@example.com/", "ftp://example.com/", "/relative",
	} {
		r := e.do(req{method: "POST", path: "/v1/webhooks", token: a.APIKey, body: map[string]any{"url": u}})
		if r.Status != http.StatusBadRequest {
			t.Errorf("url %s = %d %s, want 400", u, r.Status, r.Body)
		}
	}
	// The connect-time check refuses what the name check did not see (a
	// name that resolves to loopback later: DNS rebinding).
	c := webhooks.NewClient(time.Second, false)
	rc := newReceiver(t)
	if _, err := c.Post(strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1), "application/json", nil); err == nil {
		t.Error("the delivery client connected to loopback")
	}
	if rc.triesSoFar() != 0 {
		t.Error("the receiver on loopback was reached")
	}
}

// A scripted flow's events arrive signed, with the end user's device and
// without any token; each webhook-id once.
func TestWebhooksDeliverSignedEvents(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	w := e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.created", "session.revoked"}})
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice", "device": map[string]any{"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}})
	if r := e.do(req{method: "DELETE", path: "/v1/sessions/" + s.Session.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke = %d", r.Status)
	}
	e.pump()
	want := e.allEventIDs(a.APIKey, "session.created", "session.revoked")
	got := rc.received()
	if len(want) != 2 || len(got) != len(want) {
		t.Fatalf("received %v, want the events %v", got, want)
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("%s received %d times", id, got[id])
		}
		body, h := rc.bodies[id], rc.heads[id]
		if err := webhooks.Verify(w.Secret, h, body, time.Now()); err != nil {
			t.Errorf("signature of %s: %v", id, err)
		}
		if strings.Contains(string(body), s.Token) || strings.Contains(string(body), s.CSRFToken) {
			t.Errorf("payload holds a token: %s", body)
		}
		var p webhooks.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Data.ID != id || p.Data.TenantID != a.ID || p.Data.SessionID != s.Session.ID || p.Data.UserID != "alice" {
			t.Errorf("payload %s", body)
		}
		if p.Type == "session.created" && (p.Data.Device == nil || p.Data.Device.IP != "203.0.113.7" || p.Data.Actor == nil || p.Data.Actor.IP == "203.0.113.7") {
			t.Errorf("session.created names the end user's IP as device and the caller apart: %s", body)
		}
	}
	// A tampered body does not verify.
	for id := range want {
		if webhooks.Verify(w.Secret, rc.heads[id], append([]byte(" "), rc.bodies[id]...), time.Now()) == nil {
			t.Error("a changed body verified")
		}
	}
	var m strings.Builder
	r := e.do(req{method: "GET", path: "/metrics", token: operatorToken})
	m.Write(r.Body)
	if !strings.Contains(m.String(), `sessiond_webhook_deliveries_total{outcome="delivered"} 2`) ||
		!strings.Contains(m.String(), "sessiond_webhook_delivery_duration_seconds_bucket") {
		t.Errorf("metrics lack webhook deliveries:\n%s", grepLines(m.String(), "webhook"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// While the receiver is down, deliveries back off; once it is back every
// event arrives exactly once per webhook-id. The clock is the test's.
func TestWebhooksArriveOnceAfterAnOutage(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.created", "session.revoked"}})
	rc.set("down")
	for _, u := range []string{"alice", "bob", "carol"} {
		s := e.createSession(a.APIKey, map[string]any{"user_id": u, "device": map[string]any{"ip": "198.51.100.4"}})
		if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("verify = %d", r.Status)
		}
		if r := e.do(req{method: "POST", path: "/v1/sessions/revoke", token: a.APIKey, body: map[string]any{"token": s.Token}}); r.Status != http.StatusNoContent && r.Status != http.StatusOK {
			t.Fatalf("logout = %d %s", r.Status, r.Body)
		}
	}
	e.pump()
	for range 6 { // six hours down
		e.clock.Advance(time.Hour)
		e.pump()
	}
	if len(rc.received()) != 0 || rc.triesSoFar() < 12 {
		t.Fatalf("while down: received %v after %d tries", rc.received(), rc.triesSoFar())
	}
	rc.set("up")
	for range 3 {
		e.clock.Advance(time.Hour)
		e.pump()
	}
	want := e.allEventIDs(a.APIKey, "session.created", "session.revoked")
	got := rc.received()
	if len(want) != 6 || len(got) != len(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("%s arrived %d times", id, got[id])
		}
	}
}

// A receiver down for more than 24 hours: the delivery is given up, the
// endpoint is marked failing and an event says so.
func TestWebhookEndpointMarkedFailingAfter24Hours(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	w := e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.created"}})
	rc.set("down")
	e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	e.pump()
	for range 26 {
		e.clock.Advance(time.Hour)
		e.pump()
	}
	var got webhookOut
	e.do(req{method: "GET", path: "/v1/webhooks/" + w.ID, token: a.APIKey}).decode(t, &got)
	if got.Status != "failing" {
		r := e.do(req{method: "GET", path: "/v1/webhooks/" + w.ID + "/deliveries", token: a.APIKey})
		t.Fatalf("endpoint status %q after 26 h down, want failing; %s; %s", got.Status, r.Body, grepLines(e.s.Logs.String(), "webhook"))
	}
	var ds struct {
		Deliveries []struct {
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"deliveries"`
	}
	e.do(req{method: "GET", path: "/v1/webhooks/" + w.ID + "/deliveries", token: a.APIKey}).decode(t, &ds)
	if len(ds.Deliveries) != 1 || ds.Deliveries[0].State != "failed" || ds.Deliveries[0].Attempts < 20 {
		t.Fatalf("deliveries %+v", ds)
	}
	e.flushEvents()
	if len(e.eventsOf(a.APIKey, "webhook.endpoint_failing")) != 1 {
		t.Fatal("no webhook.endpoint_failing event")
	}
}

// Two instances share the outbox: each event is delivered once.
func TestTwoInstancesDeliverEachEventOnce(t *testing.T) {
	e := hookEnv(t)
	f := e.sibling()
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	hw := e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.created"}})
	for i := range 40 {
		inst := e
		if i%2 == 1 {
			inst = f
		}
		inst.createSession(a.APIKey, map[string]any{"user_id": "u" + string(rune('a'+i%26))})
	}
	e.flushEvents()
	f.flushEvents()
	// Each instance has its own stopped clock; both are past every event.
	e.clock.Advance(time.Minute)
	f.clock.Advance(time.Minute)
	want := e.allEventIDs(a.APIKey, "session.created")
	deadline := time.Now().Add(30 * time.Second)
	for len(rc.received()) < len(want) && time.Now().Before(deadline) {
		var wg sync.WaitGroup
		for _, inst := range []*env{e, f} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst.app.Dispatcher.Pump(context.Background())
			}()
		}
		wg.Wait()
	}
	got := rc.received()
	if len(want) != 40 || len(got) != len(want) {
		r := e.do(req{method: "GET", path: "/v1/webhooks/" + hw.ID + "/deliveries", token: a.APIKey})
		t.Fatalf("received %d distinct, want %d\n%s", len(got), len(want), r.Body)
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Errorf("%s received %d times", id, n)
		}
	}
}

// A delivery claimed by an instance that died is sent again once its
// lease ends.
func TestWebhookClaimOfADeadInstanceIsRetried(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.created"}})
	e.createSession(a.APIKey, map[string]any{})
	e.flushEvents()
	dead, err := e.app.Store.Claim(context.Background(), "cl_dead", e.clock.Now(), time.Minute, 10, 10, nil)
	if err != nil || len(dead) != 1 {
		t.Fatalf("claim: %v %v", dead, err)
	}
	e.app.Dispatcher.Pump(context.Background())
	if len(rc.received()) != 0 {
		t.Fatal("a claimed delivery was sent before its lease ended")
	}
	e.clock.Advance(2 * time.Minute)
	e.app.Dispatcher.Pump(context.Background())
	if got := rc.received(); len(got) != 1 || got[dead[0].MsgID] != 1 {
		t.Fatalf("after the lease: %v", got)
	}
}

// During a rotation's overlap both secrets sign; after it, only the new.
func TestWebhookSecretRotationOverlap(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	w := e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.created"}})
	r := e.do(req{method: "POST", path: "/v1/webhooks/" + w.ID + "/rotate-secret", token: a.APIKey, body: map[string]any{"overlap_seconds": 3600}})
	var rot webhookOut
	r.decode(t, &rot)
	if r.Status != http.StatusOK || rot.Secret == w.Secret || !strings.HasPrefix(rot.Secret, "whsec_") || rot.PreviousSecretUntil == "" {
		t.Fatalf("rotate = %d %s", r.Status, r.Body)
	}
	e.createSession(a.APIKey, map[string]any{})
	e.pump()
	e.clock.Advance(2 * time.Hour)
	e.createSession(a.APIKey, map[string]any{})
	e.pump()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.heads) != 2 {
		t.Fatalf("received %d", len(rc.heads))
	}
	both := 0
	for id, h := range rc.heads {
		sigs := strings.Fields(h.Get("webhook-signature"))
		sec, _ := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		sent := time.Unix(sec, 0) // the receiver's clock is the test's
		if err := webhooks.Verify(rot.Secret, h, rc.bodies[id], sent); err != nil {
			t.Errorf("new secret: %v", err)
		}
		if len(sigs) == 2 {
			both++
			if err := webhooks.Verify(w.Secret, h, rc.bodies[id], sent); err != nil {
				t.Errorf("old secret during the overlap: %v", err)
			}
		}
	}
	if both != 1 {
		t.Errorf("%d deliveries carried two signatures, want the one inside the overlap", both)
	}
}

// A receiver that never answers does not slow session creation: the
// outbox is written with the events, off the request path.
func TestHangingReceiverDoesNotSlowCreate(t *testing.T) {
	e := newEnv(t, envOptions{WebhookAllowPrivate: true, Webhooks: webhooks.Options{Poll: 20 * time.Millisecond, Timeout: time.Minute}})
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	rc.set("hang")
	for range 10 {
		e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL})
	}
	e.createSession(a.APIKey, map[string]any{})
	e.flushEvents()
	e.app.Dispatcher.Kick()
	deadline := time.Now().Add(5 * time.Second)
	for rc.triesSoFar() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var worst time.Duration
	for range 50 {
		start := time.Now()
		e.createSession(a.APIKey, map[string]any{})
		worst = max(worst, time.Since(start))
	}
	e.flushEvents()
	if worst > time.Second {
		t.Fatalf("with 10 hanging endpoints, the slowest create took %v", worst)
	}
}

// Events spooled to Redis while PostgreSQL was down reach the outbox when
// the spool is written back, once, however often they are stored.
func TestSpooledEventsAreDelivered(t *testing.T) {
	e := hookEnv(t)
	a := e.createTenant("Shop")
	rc := newReceiver(t)
	e.createWebhook(a.APIKey, map[string]any{"url": rc.srv.URL, "event_types": []string{"session.revoked"}})
	ev := events.Event{ID: events.NewID(), TenantID: a.ID, Type: events.SessionRevoked, Time: e.clock.Now(), SessionID: "sab_x",
		Device: &events.Device{IP: "203.0.113.7"}}
	spool := redisspool.New(e.app.Redis, e.cfg.RedisPrefix, 100)
	if _, _, err := spool.Push(context.Background(), []events.Event{ev, ev}); err != nil {
		t.Fatal(err)
	}
	e.pump() // Flush writes the spool back
	if got := rc.received(); got[ev.ID] != 1 {
		t.Fatalf("after the spool was written back: received %v", got)
	}
	if err := e.app.Store.WriteEvents(context.Background(), []events.Event{ev}); err != nil {
		t.Fatal(err)
	}
	e.app.Dispatcher.Pump(context.Background())
	if got := rc.received(); len(got) != 1 || got[ev.ID] != 1 {
		t.Fatalf("received %v, want %s once", got, ev.ID)
	}
	if !strings.Contains(string(rc.bodies[ev.ID]), `"device":{"ip":"203.0.113.7"}`) {
		t.Errorf("payload %s", rc.bodies[ev.ID])
	}
}
