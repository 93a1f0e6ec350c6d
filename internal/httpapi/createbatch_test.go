package httpapi_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// createBatch posts items to POST /v1/sessions/create-batch.
func (e *env) createBatch(key string, items ...map[string]any) resp {
	e.t.Helper()
	return e.batch("create-batch", key, items...)
}

// created is a create's answer with what differs between two tenants
// given the same requests named: session ids by names (ids, filled as
// new ones come: "new 3" is the session of the fourth create), tokens by
// whether there was one.
func created(t testing.TB, a answer, ids map[string]string) answer {
	t.Helper()
	if a.Status != http.StatusCreated {
		return a
	}
	sess := a.Body["session"].(map[string]any)
	id := sess["id"].(string)
	if ids[id] != "" {
		t.Fatalf("session id %s issued twice", id)
	}
	ids[id] = fmt.Sprintf("new %d", len(ids))
	body := map[string]any{}
	for k, v := range a.Body {
		body[k] = v
	}
	s := map[string]any{}
	for k, v := range sess {
		s[k] = v
	}
	s["id"] = ids[id]
	body["session"] = s
	for _, k := range []string{"token", "csrf_token"} {
		body[k] = body[k] != ""
	}
	var evicted []any
	for _, id := range a.Body["evicted"].([]any) {
		evicted = append(evicted, ids[id.(string)])
	}
	body["evicted"] = evicted
	return answer{Status: a.Status, Body: body}
}

// Each item of a batch is answered as POST /v1/sessions answers it, in
// the items' order, under either limit: the same requests made one by one
// in one tenant and as one batch in another (same policy, same instant)
// get the same statuses and bodies (but for ids and tokens, matched by
// position), and the same events. The items of one user are applied in
// order: under evict_oldest with a cap of 1 each evicts the one before it;
// under reject with a cap of 2 those past the cap are 409. An impersonated
// session never counts toward the cap; remember-me without a remember_me
// lifetime, a timeout longer than the policy's and data over its limit
// are refused as create refuses them. Every session issued verifies, but
// for those a later item evicted.
func TestCreateBatchAnswersEachItemAsCreateWould(t *testing.T) {
	for _, c := range []struct {
		onLimit string
		max     int
		want    []int // the statuses of carol's three items
	}{
		{"evict_oldest", 1, []int{201, 201, 201}},
		{"reject", 2, []int{201, 409, 409}},
	} {
		t.Run("under "+c.onLimit, func(t *testing.T) {
			e := newEnv(t)
			single, batch := e.createTenant("One by one"), e.createTenant("Batch")
			ids := map[string]string{}
			for _, tn := range []tenant{single, batch} {
				e.putPolicy(tn.APIKey, func(p map[string]any) {
					p["max_sessions_per_user"] = c.max
					p["on_limit"] = c.onLimit
					p["max_data_bytes"] = 1024
				})
				// carol's session from before: in both tenants it is "old".
				ids[e.createSession(tn.APIKey, map[string]any{"user_id": "carol"}).Session.ID] = "old"
			}
			e.clock.Advance(time.Minute)
			dev := map[string]any{"user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "ip": "203.0.113.7"}
			items := []map[string]any{
				{},
				{"user_id": "alice", "amr": []string{"pwd", "otp"}, "device": dev, "data": map[string]any{"cart": 3}},
				{"user_id": "bob", "idle_timeout": 600},
				{"user_id": "carol", "device": dev},
				{"user_id": "dave", "remember": true},
				{"user_id": "carol", "data": map[string]any{"step": 2}},
				{"user_id": "carol", "actor": map[string]any{"type": "support", "id": "agent-7"}},
				{"user_id": "erin", "idle_timeout": 100000},
				{"user_id": "carol", "amr": []string{"pwd"}},
				{"user_id": "frank", "data": map[string]any{"blob": strings.Repeat("x", 2000)}},
			}
			want := []int{201, 201, 201, c.want[0], 400, c.want[1], 201, 400, c.want[2], 413}

			var one []answer
			for i, item := range items {
				r := e.do(req{method: "POST", path: "/v1/sessions", token: single.APIKey, body: item})
				a := created(t, answerOf(t, r.Status, r.Body), ids)
				if a.Status != want[i] {
					t.Fatalf("item %d alone: %d %s, want %d", i, r.Status, r.Body, want[i])
				}
				one = append(one, a)
			}
			e.flushEvents()
			before := eventCounts(e, batch.APIKey)
			for id, name := range ids { // the batch's sessions are named anew
				if strings.HasPrefix(name, "new") {
					delete(ids, id)
				}
			}

			raw := e.createBatch(batch.APIKey, items...).results(t)
			if len(raw) != len(items) {
				t.Fatalf("%d results for %d items", len(raw), len(items))
			}
			evicted := map[string]bool{}
			for i := range items {
				got := created(t, raw[i], ids)
				if !reflect.DeepEqual(got, one[i]) {
					t.Errorf("item %d: the batch answered\n  %d %v\ncreate alone\n  %d %v", i, got.Status, got.Body, one[i].Status, one[i].Body)
				}
				if got.Status == http.StatusCreated {
					for _, id := range raw[i].Body["evicted"].([]any) {
						evicted[id.(string)] = true
					}
				}
			}
			if n := map[string]int{"evict_oldest": 3, "reject": 0}[c.onLimit]; len(evicted) != n {
				t.Fatalf("the batch evicted %d sessions, want %d", len(evicted), n)
			}
			e.flushEvents()
			after, alone := eventCounts(e, batch.APIKey), eventCounts(e, single.APIKey)
			if !reflect.DeepEqual(after, alone) {
				t.Errorf("events: the batch's tenant has %v, the creates alone %v", after, alone)
			}
			made := map[string]int{"session.created": 7, "session.evicted": 3, "session.limit_rejected": 0}
			if c.onLimit == "reject" {
				made = map[string]int{"session.created": 5, "session.evicted": 0, "session.limit_rejected": 2}
			}
			for typ, n := range made {
				if after[typ]-before[typ] != n {
					t.Errorf("the batch recorded %d %s events, want %d", after[typ]-before[typ], typ, n)
				}
			}
			for i, a := range raw {
				if a.Status != http.StatusCreated {
					continue
				}
				id := a.Body["session"].(map[string]any)["id"].(string)
				want := http.StatusOK
				if evicted[id] {
					want = http.StatusUnauthorized
				}
				if r := e.verify(batch.APIKey, a.Body["token"].(string), nil); r.Status != want {
					t.Errorf("item %d's session (evicted: %v) verifies %d %s", i, evicted[id], r.Status, r.Body)
				}
			}
		})
	}
}

// The whole call is refused only for what concerns it all: a body that is
// not 1 to 100 valid create bodies (400, naming the field), an
// Idempotency-Key (400: it would not be honoured), the API key (401, 403),
// the media type (415) and the size (413). None of it creates a session.
func TestCreateBatchRefusesTheWholeCall(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	admin := e.createAPIKey(a.APIKey, "admin only", "admin")
	wantRefusals(t, e, "/v1/sessions/create-batch", a.APIKey, append(batchRefusals(map[string]any{"user_id": "alice"}, admin.Secret),
		refusal{"an invalid item", req{body: map[string]any{"items": []any{map[string]any{"user_id": "alice"}, map[string]any{"idle_timeout": 0}}}}, 400, "invalid_request", "items.1.idle_timeout"},
		refusal{"an item with an unknown property", req{body: map[string]any{"items": []any{map[string]any{"user": "alice"}}}}, 400, "invalid_request", "items.0"},
		refusal{"an item whose user id is no user id", req{body: map[string]any{"items": []any{map[string]any{}, map[string]any{"user_id": "a b"}}}}, 400, "invalid_request", "items.1.user_id"},
		refusal{"a single create's body", req{body: map[string]any{"user_id": "alice"}}, 400, "invalid_request", "body"},
		refusal{"an Idempotency-Key", req{body: map[string]any{"items": []any{map[string]any{"user_id": "alice"}}}, header: map[string]string{"Idempotency-Key": "k1"}}, 400, "invalid_request", "header.Idempotency-Key"},
	))
	if n := len(e.listSessions(a.APIKey)); n != 0 {
		t.Fatalf("the refused calls created %d sessions", n)
	}
}

// Every item counts as one request against the tenant's
// requests_per_second, as on verify-batch; a refused batch creates
// nothing.
func TestCreateBatchCountsEachItemAgainstTheTenantRate(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	wantItemsCounted(t, e, a, "/v1/sessions/create-batch", func(i int) map[string]any { return map[string]any{"user_id": fmt.Sprintf("u%d", i)} })
	e.clock.Advance(time.Second)
	if n := len(e.listSessions(a.APIKey)); n != 4+6+30 {
		t.Fatalf("%d sessions, want the 40 of the batches admitted", n)
	}
}

// listSessions lists the tenant's live sessions (up to 200).
func (e *env) listSessions(key string) []sessionOut {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/sessions?limit=200", token: key})
	if r.Status != http.StatusOK {
		e.t.Fatalf("list sessions: %d %s", r.Status, r.Body)
	}
	var list struct {
		Sessions []sessionOut `json:"sessions"`
	}
	r.decode(e.t, &list)
	return list.Sessions
}

// The tenant's live_sessions ceiling applies to each item as to a create
// made after the items before it: at a ceiling of 3, the fourth session
// of a batch is refused (409 naming the ceiling), and so is every item
// after it; an item refused on its own (400) takes no room.
func TestCreateBatchAppliesTheLiveSessionsCeilingPerItem(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	e.setLimits(a.ID, map[string]any{"live_sessions": 3})
	got := e.createBatch(a.APIKey,
		map[string]any{"user_id": "u0"},
		map[string]any{"user_id": "u1", "remember": true}, // the policy has no remember_me
		map[string]any{},
		map[string]any{"user_id": "u2"},
		map[string]any{"user_id": "u3"},
		map[string]any{"user_id": "u4", "remember": true},
	).results(t)
	want := []int{201, 400, 201, 201, 409, 409}
	for i, a := range got {
		if a.Status != want[i] {
			t.Fatalf("item %d: %d %v, want %d", i, a.Status, a.Body, want[i])
		}
		if a.Status == http.StatusConflict && (a.Body["code"] != "session_limit_reached" || !strings.Contains(a.Body["detail"].(string), "live_sessions")) {
			t.Fatalf("item %d: %v, want the live_sessions ceiling", i, a.Body)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "u5"}}); r.Status != http.StatusConflict {
		t.Fatalf("a create after the batch filled the ceiling = %d %s", r.Status, r.Body)
	}
}

// The sessions a batch evicted reach the changes stream before it
// answers, as one frame: under a cap of one, carol's old session and her
// first item's, evicted by her second.
func TestCreateBatchPublishesItsEvictionsBeforeAnswering(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 1 })
	old := e.createSession(a.APIKey, map[string]any{"user_id": "carol"})
	c := e.openChanges(a.APIKey, "")
	c.expect("ready")
	got := e.createBatch(a.APIKey, map[string]any{"user_id": "carol"}, map[string]any{"user_id": "bob"}, map[string]any{"user_id": "carol"}).results(t)
	first := got[0].Body["session"].(map[string]any)["id"].(string)
	c.expectSessions("evicted", old.Session.ID, first)
}
