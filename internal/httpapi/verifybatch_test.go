package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// answer is a verify's answer as a client reads it: the status and the
// JSON body, without the request_id of a problem (each call has its own).
type answer struct {
	Status int
	Body   map[string]any
}

func answerOf(t testing.TB, status int, body []byte) answer {
	t.Helper()
	a := answer{Status: status}
	if err := json.Unmarshal(body, &a.Body); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	delete(a.Body, "request_id")
	return a
}

// batch posts items to the batch endpoint POST /v1/sessions/<op>
// (verify-batch, create-batch), whose answers are never cacheable.
func (e *env) batch(op, key string, items ...map[string]any) resp {
	e.t.Helper()
	if items == nil {
		items = []map[string]any{}
	}
	r := e.do(req{method: "POST", path: "/v1/sessions/" + op, token: key, body: map[string]any{"items": items}})
	if r.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("%s answered %d without Cache-Control: no-store", op, r.Status)
	}
	return r
}

// verifyBatch posts items to POST /v1/sessions/verify-batch.
func (e *env) verifyBatch(key string, items ...map[string]any) resp {
	e.t.Helper()
	return e.batch("verify-batch", key, items...)
}

// results are the results of a 200 batch (verify-batch, create-batch),
// as answers; each problem's request_id must be the call's.
func (r resp) results(t testing.TB) []answer {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("batch = %d %s", r.Status, r.Body)
	}
	var out struct {
		Results []struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		} `json:"results"`
	}
	r.decode(t, &out)
	answers := make([]answer, len(out.Results))
	for i, res := range out.Results {
		var p struct {
			RequestID *string `json:"request_id"`
		}
		if err := json.Unmarshal(res.Body, &p); err != nil {
			t.Fatal(err)
		}
		if res.Status >= 400 && (p.RequestID == nil || *p.RequestID != r.Header.Get("X-Request-Id")) {
			t.Errorf("result %d: request_id %v, want the call's %s", i, p.RequestID, r.Header.Get("X-Request-Id"))
		}
		answers[i] = answerOf(t, res.Status, res.Body)
	}
	return answers
}

// Each item of a batch is answered exactly as POST /v1/sessions/verify
// answers it (status and body, but for the request id), in the items'
// order: a live session, a retiring key's token (re-signed), a forgery, a
// revoked session, a session Redis no longer holds, an idle-expired one, a
// CSRF mismatch, a step-up, a binding mismatch under enforce, a device IP
// the engine refuses, and a source the guess limiter throttles. Each item
// records its own events.
func TestVerifyBatchAnswersEachItemAsVerifyWould(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) {
		p["idle_timeout"] = 600
		p["binding"] = map[string]any{"user_agent": "off", "ip": "enforce"}
	})
	// Two sessions that expire alike: one for the single verify, one for
	// the batch (an expired session is reported once, then forgotten).
	idle := [2]issued{e.createSession(a.APIKey, map[string]any{"user_id": "ivy"}), e.createSession(a.APIKey, map[string]any{"user_id": "ivy"})}
	e.clock.Advance(601 * time.Second)
	retiring := e.createSession(a.APIKey, map[string]any{"user_id": "rita", "data": map[string]any{"theme": "dark"}})
	if r := e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey}); r.Status != http.StatusCreated {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	live := e.createSession(a.APIKey, map[string]any{"user_id": "alice", "data": map[string]any{"cart": 3}})
	revoked := e.createSession(a.APIKey, map[string]any{"user_id": "bob"})
	if r := e.do(req{method: "DELETE", path: "/v1/sessions/" + revoked.Session.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d", r.Status)
	}
	unknown := e.createSession(a.APIKey, map[string]any{"user_id": "carl"})
	base := e.cfg.RedisPrefix + ":{" + a.ID + ":" + unknown.Session.ID[1:3] + "}:"
	if err := e.app.Redis.Del(t.Context(), base+"s:"+unknown.Session.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.app.Redis.ZRem(t.Context(), base+"idx", unknown.Session.ID).Err(); err != nil {
		t.Fatal(err)
	}
	bound := e.createSession(a.APIKey, map[string]any{"user_id": "dora", "device": map[string]any{"ip": "203.0.113.7"}})
	const guesser = "198.51.100.66"
	for i := 0; ; i++ {
		r := e.verify(a.APIKey, fmt.Sprintf("v1.k_aaaaaaaaaaaaaaaa.aa.flood%d.mac", i), map[string]any{"device": map[string]any{"ip": guesser}})
		if r.Status == http.StatusTooManyRequests {
			break
		}
		if i == 100 {
			t.Fatal("the guess limiter never throttled the source")
		}
	}

	cases := []struct {
		name          string
		single, batch map[string]any // batch: nil is single
		want          int
	}{
		{"a live session", map[string]any{"token": live.Token, "csrf_token": live.CSRFToken}, nil, 200},
		{"a retiring key's token", map[string]any{"token": retiring.Token}, nil, 200},
		{"a forgery", map[string]any{"token": "v1.k_aaaaaaaaaaaaaaaa.aa.bm9uY2U.bWFj"}, nil, 401},
		{"a revoked session", map[string]any{"token": revoked.Token}, nil, 401},
		{"a session Redis does not hold", map[string]any{"token": unknown.Token}, nil, 401},
		{"an idle-expired session", map[string]any{"token": idle[0].Token}, map[string]any{"token": idle[1].Token}, 401},
		{"a CSRF mismatch", map[string]any{"token": live.Token, "csrf_token": retiring.CSRFToken}, nil, 403},
		{"a step-up", map[string]any{"token": live.Token, "min_aal": 2}, nil, 403},
		{"a binding mismatch", map[string]any{"token": bound.Token, "device": map[string]any{"ip": "198.51.100.1"}}, nil, 401},
		{"a device IP that is no IP", map[string]any{"token": live.Token, "device": map[string]any{"ip": "not-an-ip"}}, nil, 400},
		{"a throttled source", map[string]any{"token": "v1.k_aaaaaaaaaaaaaaaa.aa.more.mac", "device": map[string]any{"ip": guesser}}, nil, 429},
		{"the live session again", map[string]any{"token": live.Token}, nil, 200},
	}
	var single []answer
	var items []map[string]any
	for _, c := range cases {
		r := e.verify(a.APIKey, c.single["token"].(string), c.single)
		single = append(single, answerOf(t, r.Status, r.Body))
		if r.Status != c.want {
			t.Fatalf("%s: the single verify answered %d %s, want %d", c.name, r.Status, r.Body, c.want)
		}
		item := c.batch
		if item == nil {
			item = c.single
		}
		items = append(items, item)
	}
	if single[1].Body["token"] == nil {
		t.Fatalf("the retiring key's token was not re-signed: %v", single[1].Body)
	}
	if single[7].Body["step_up"] == nil {
		t.Fatalf("the step-up names nothing to prove: %v", single[7].Body)
	}

	e.flushEvents()
	before := eventCounts(e, a.APIKey)
	got := e.verifyBatch(a.APIKey, items...).results(t)
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d items", len(got), len(cases))
	}
	for i, c := range cases {
		if !reflect.DeepEqual(got[i], single[i]) {
			t.Errorf("%s: the batch answered\n  %d %v\nthe single verify\n  %d %v", c.name, got[i].Status, got[i].Body, single[i].Status, single[i].Body)
		}
	}

	e.flushEvents()
	after := eventCounts(e, a.APIKey)
	for typ, n := range map[string]int{
		"verify.rejected":         5, // forged, revoked, unknown, expired, binding
		"session.expired":         1,
		"verify.csrf_mismatch":    1,
		"verify.step_up_required": 1,
		"verify.binding_mismatch": 1,
	} {
		if after[typ]-before[typ] != n {
			t.Errorf("the batch recorded %d %s events, want %d", after[typ]-before[typ], typ, n)
		}
	}
}

// eventCounts counts the tenant's stored events by type.
func eventCounts(e *env, key string) map[string]int {
	e.t.Helper()
	counts := map[string]int{}
	cursor := ""
	for {
		path := "/v1/events?limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
			Next string `json:"next_cursor"`
		}
		e.do(req{method: "GET", path: path, token: key}).decode(e.t, &page)
		for _, ev := range page.Events {
			counts[ev.Type]++
		}
		if cursor = page.Next; cursor == "" {
			return counts
		}
	}
}

// The whole call is refused only for what concerns it all: a body that is
// not 1 to 100 valid verify bodies (400, naming the field), the API key
// (401, 403), the media type (415) and the size (413).
func TestVerifyBatchRefusesTheWholeCall(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	admin := e.createAPIKey(a.APIKey, "admin only", "admin")
	wantRefusals(t, e, "/v1/sessions/verify-batch", a.APIKey, append(batchRefusals(map[string]any{"token": s.Token}, admin.Secret),
		refusal{"an invalid item", req{body: map[string]any{"items": []any{map[string]any{"token": s.Token}, map[string]any{"token": s.Token, "max_auth_age": -1}}}}, 400, "invalid_request", "items.1.max_auth_age"},
		refusal{"an item with an unknown property", req{body: map[string]any{"items": []any{map[string]any{"token": s.Token, "tokn": "x"}}}}, 400, "invalid_request", "items.0"},
		refusal{"an item without a token", req{body: map[string]any{"items": []any{map[string]any{"token": s.Token}, map[string]any{}}}}, 400, "invalid_request", "items.1.token"},
		refusal{"a single verify's body", req{body: map[string]any{"token": s.Token}}, 400, "invalid_request", "body"},
	))
	// None of it verified, or touched, the session.
	if got := e.verifyBatch(a.APIKey, map[string]any{"token": s.Token}).results(t); got[0].Status != http.StatusOK {
		t.Fatalf("the session after the refused calls: %v", got[0])
	}
}

// refusal is a call a batch endpoint refuses whole: its status, problem
// code and the field its problem names first ("" for none).
type refusal struct {
	name  string
	r     req
	want  int
	code  string
	field string
}

// batchRefusals are the refusals of every batch endpoint, given one valid
// item and an API key without the sessions scope: no items, 101, items
// that are not a list, the API key, the media type and the size.
func batchRefusals(item map[string]any, adminKey string) []refusal {
	one := map[string]any{"items": []any{item}}
	many := make([]any, 101)
	for i := range many {
		many[i] = item
	}
	return []refusal{
		{"no items", req{body: map[string]any{"items": []any{}}}, 400, "invalid_request", "items"},
		{"101 items", req{body: map[string]any{"items": many}}, 400, "invalid_request", "items"},
		{"items that are not a list", req{body: map[string]any{"items": item}}, 400, "invalid_request", "items"},
		{"a wrong API key", req{token: "sk_wrong", body: one}, 401, "unauthorized", ""},
		{"an API key without the sessions scope", req{token: adminKey, body: one}, 403, "forbidden", ""},
		{"a body that is not JSON", req{body: `items=1`, contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"a body over the size limit", req{body: `{"items":[` + strings.Repeat(" ", 70<<10) + `]}`}, 413, "payload_too_large", ""},
	}
}

// wantRefusals sends each case to POST path, with key unless the case has
// a token of its own, and checks that the whole call is refused as it
// says.
func wantRefusals(t *testing.T, e *env, path, key string, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name+" is answered "+http.StatusText(c.want), func(t *testing.T) {
			c.r.method, c.r.path = "POST", path
			if c.r.token == "" {
				c.r.token = key
			}
			r := e.do(c.r)
			if r.Status != c.want || r.code(t) != c.code {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if c.field == "" {
				return
			}
			var p struct {
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			r.decode(t, &p)
			if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("errors %s, want the field %s first", r.Body, c.field)
			}
		})
	}
}

// Every item counts as one request against the tenant's
// requests_per_second: a batch of n is admitted when the bucket holds n,
// as n verifies would be; a batch larger than the bucket when it is full,
// leaving it in debt; a refused batch spends nothing.
func TestVerifyBatchCountsEachItemAgainstTheTenantRate(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	wantItemsCounted(t, e, a, "/v1/sessions/verify-batch", func(int) map[string]any { return map[string]any{"token": s.Token} })
}

// wantItemsCounted checks, on the batch endpoint path, that each item of
// a batch counts as one request against tenant a's requests_per_second
// (set to 10 here): batches of 4, 7 (refused, with the rate headers), 6
// and 30 (on a full bucket, which it leaves in debt) of item(i). The clock
// is the test's, so this counts requests, not time.
func wantItemsCounted(t *testing.T, e *env, a tenant, path string, item func(i int) map[string]any) {
	t.Helper()
	e.setLimits(a.ID, map[string]any{"requests_per_second": 10})
	e.clock.Advance(time.Second) // a full bucket
	batch := func(n int) resp {
		items := make([]any, n)
		for i := range items {
			items[i] = item(i)
		}
		return e.do(req{method: "POST", path: path, token: a.APIKey, body: map[string]any{"items": items}})
	}
	get := func() int { return e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).Status }

	if r := batch(4); r.Status != http.StatusOK {
		t.Fatalf("a batch of 4 of 10 = %d %s", r.Status, r.Body)
	}
	for i := range 6 {
		if st := get(); st != http.StatusOK {
			t.Fatalf("request %d after a batch of 4 = %d", i+5, st)
		}
	}
	if st := get(); st != http.StatusTooManyRequests {
		t.Fatalf("request 11 of 10 after a batch of 4 = %d: the batch counted as fewer than 4", st)
	}

	e.clock.Advance(600 * time.Millisecond) // 6 requests refilled
	r := batch(7)
	if r.Status != http.StatusTooManyRequests || r.code(t) != "rate_limited" {
		t.Fatalf("a batch of 7 when 6 are left = %d %s", r.Status, r.Body)
	}
	if h := r.Header; h.Get("Retry-After") != "1" || h.Get("RateLimit-Policy") != `"tenant";q=10;w=1` || h.Get("RateLimit") != `"tenant";r=0;t=1` {
		t.Fatalf("headers: Retry-After %q, RateLimit-Policy %q, RateLimit %q", h.Get("Retry-After"), h.Get("RateLimit-Policy"), h.Get("RateLimit"))
	}
	if r := batch(6); r.Status != http.StatusOK {
		t.Fatalf("a batch of 6 when 6 are left (the refused batch spent nothing) = %d %s", r.Status, r.Body)
	}
	if st := get(); st != http.StatusTooManyRequests {
		t.Fatalf("a request after the bucket was spent = %d", st)
	}

	e.clock.Advance(time.Second) // full again
	if r := batch(30); r.Status != http.StatusOK {
		t.Fatalf("a batch of 30 on a full bucket of 10 = %d %s", r.Status, r.Body)
	}
	e.clock.Advance(2 * time.Second) // pays 20 of the 30
	if st := get(); st != http.StatusTooManyRequests {
		t.Fatalf("2 s after a batch of 30 on a bucket of 10 = %d: the batch counted as fewer than 30", st)
	}
	e.clock.Advance(100 * time.Millisecond)
	if st := get(); st != http.StatusOK {
		t.Fatalf("once the batch of 30 is paid = %d", st)
	}
}
