package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func (e *env) userSessionCount(t *testing.T, key, user string) int {
	t.Helper()
	var list struct {
		Sessions []any `json:"sessions"`
	}
	e.do(req{method: "GET", path: "/v1/users/" + user + "/sessions", token: key}).decode(t, &list)
	return len(list.Sessions)
}

func TestIdempotencyKeyGivesTheFirstAnswerAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	e := newEnv(t)
	a := e.createTenant("idem a")
	b := e.createTenant("idem b")
	create := func(tn tenant, key string, body map[string]any) resp {
		t.Helper()
		return e.do(req{method: "POST", path: "/v1/sessions", token: tn.APIKey, body: body, header: map[string]string{"Idempotency-Key": key}})
	}
	body := map[string]any{"user_id": "ann", "data": map[string]any{"cart": 1}}

	first := create(a, "k-1", body)
	again := create(a, "k-1", body)
	if first.Status != http.StatusCreated || again.Status != http.StatusCreated || string(first.Body) != string(again.Body) {
		t.Fatalf("replay: %d %s / %d %s", first.Status, first.Body, again.Status, again.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("Idempotent-Replayed: first %q, replay %q", first.Header.Get("Idempotent-Replayed"), again.Header.Get("Idempotent-Replayed"))
	}
	if again.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the replay carries a token without Cache-Control: no-store: %v", again.Header)
	}
	if n := e.userSessionCount(t, a.APIKey, "ann"); n != 1 {
		t.Fatalf("two requests with one key made %d sessions", n)
	}
	var s issued
	again.decode(t, &s)
	if r := e.do(req{method: "POST", path: "/v1/sessions/verify", token: a.APIKey, body: map[string]any{"token": s.Token}}); r.Status != http.StatusOK {
		t.Fatalf("the replayed token does not verify: %d %s", r.Status, r.Body)
	}

	// The same body with a new key, or without one, is a new session.
	if r := create(a, "k-2", body); r.Status != http.StatusCreated || string(r.Body) == string(first.Body) {
		t.Fatalf("a new key: %d %s", r.Status, r.Body)
	}
	// Another body with a used key is refused, and runs nothing.
	if r := create(a, "k-1", map[string]any{"user_id": "ann"}); r.Status != http.StatusUnprocessableEntity || r.code(t) != "idempotency_key_reused" {
		t.Fatalf("a reused key: %d %s", r.Status, r.Body)
	}
	if n := e.userSessionCount(t, a.APIKey, "ann"); n != 2 {
		t.Fatalf("ann has %d sessions, want 2", n)
	}
	// Keys are per tenant: b's "k-1" is its own.
	if r := create(b, "k-1", body); r.Status != http.StatusCreated || string(r.Body) == string(first.Body) || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another tenant's key: %d %s", r.Status, r.Body)
	}
	// The key is checked on both ways through the route (compiled check and validator).
	for _, bad := range []string{strings.Repeat("x", 256), "caf\xc3\xa9", "a b"} {
		if r := create(a, bad, body); r.Status != http.StatusBadRequest {
			t.Errorf("Idempotency-Key %q: %d %s", bad, r.Status, r.Body)
		}
	}

	// Redis keeps neither the token, nor the CSRF token, nor the client's key.
	ctx := context.Background()
	keys, err := e.app.Redis.Keys(ctx, e.cfg.RedisPrefix+":{idem:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no idempotency entries under the prefix: %v %v", keys, err)
	}
	for _, k := range keys {
		v, _ := e.app.Redis.Get(ctx, k).Result()
		for _, secret := range []string{s.Token, s.CSRFToken, "k-1"} {
			if strings.Contains(k+v, secret) {
				t.Errorf("Redis entry %s holds %q in plain text", k, secret)
			}
		}
	}
}

func TestIdempotencyKeyOnTheOtherCreatingRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	e := newEnv(t)
	a := e.createTenant("idem routes")
	twice := func(r req) (resp, resp) {
		t.Helper()
		r.header = map[string]string{"Idempotency-Key": "key" + r.path}
		return e.do(r), e.do(r)
	}

	// Regenerate: the retry of a login whose answer was lost gets the new
	// token, although the old one is dead by then.
	var anon issued
	e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{}}).decode(t, &anon)
	one, two := twice(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": anon.Token, "user_id": "bo"}})
	if one.Status != http.StatusOK || string(one.Body) != string(two.Body) || two.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("regenerate: %d %s / %d %s", one.Status, one.Body, two.Status, two.Body)
	}

	one, two = twice(req{method: "POST", path: "/v1/api-keys", token: a.APIKey, body: map[string]any{"name": "web", "scopes": []string{"sessions"}}})
	if one.Status != http.StatusCreated || string(one.Body) != string(two.Body) {
		t.Fatalf("api key: %d %s / %d %s", one.Status, one.Body, two.Status, two.Body)
	}
	var keys struct {
		APIKeys []any `json:"api_keys"`
	}
	e.do(req{method: "GET", path: "/v1/api-keys", token: a.APIKey}).decode(t, &keys)
	if len(keys.APIKeys) != 2 {
		t.Errorf("%d API keys, want 2 (the first and one made once)", len(keys.APIKeys))
	}

	one, two = twice(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey, body: map[string]any{}})
	if one.Status != http.StatusCreated || string(one.Body) != string(two.Body) {
		t.Fatalf("rotate: %d %s / %d %s", one.Status, one.Body, two.Status, two.Body)
	}

	// A key names one request: on another route it is "reused".
	if r := e.do(req{method: "POST", path: "/v1/api-keys", token: a.APIKey, body: map[string]any{"name": "web", "scopes": []string{"sessions"}},
		header: map[string]string{"Idempotency-Key": "key/v1/keys/rotate"}}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a key of another route: %d %s", r.Status, r.Body)
	}

	// The operator's keys are a scope of their own.
	one, two = twice(req{method: "POST", path: "/v1/tenants", token: operatorToken, body: map[string]any{"name": "once"}})
	if one.Status != http.StatusCreated || string(one.Body) != string(two.Body) || one.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("tenant: %d %s / %d %s", one.Status, one.Body, two.Status, two.Body)
	}
}

func TestConcurrentRequestsWithOneIdempotencyKeyRunOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	e := newEnv(t)
	a := e.createTenant("idem race")
	const n = 8
	var wg sync.WaitGroup
	got := make([]resp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "cy"},
				header: map[string]string{"Idempotency-Key": "race"}})
		}()
	}
	wg.Wait()
	var winner string
	for _, r := range got {
		switch {
		case r.Status == http.StatusCreated:
			if winner == "" {
				winner = string(r.Body)
			} else if string(r.Body) != winner {
				t.Errorf("two different answers for one key:\n%s\n%s", winner, r.Body)
			}
		case r.Status == http.StatusConflict && r.code(t) == "conflict" && r.Header.Get("Retry-After") == "1":
		default:
			t.Errorf("unexpected answer %d %s", r.Status, r.Body)
		}
	}
	if winner == "" {
		t.Fatal("no request won")
	}
	if c := e.userSessionCount(t, a.APIKey, "cy"); c != 1 {
		t.Fatalf("%d concurrent requests with one key made %d sessions", n, c)
	}
}
