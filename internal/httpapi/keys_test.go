package httpapi_test

import (
	"net/http"
	"testing"
	"time"
)

type keyMeta struct {
	KID       string     `json:"kid"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	RetiresAt *time.Time `json:"retires_at"`
	RetiredAt *time.Time `json:"retired_at"`
}

func (e *env) keys(token string) []keyMeta {
	e.t.Helper()
	var out struct {
		Keys []keyMeta `json:"keys"`
	}
	e.do(req{method: "GET", path: "/v1/keys", token: token}).decode(e.t, &out)
	return out.Keys
}

func TestKeyRotationAndRetirement(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")

	first := e.keys(a.APIKey)
	if len(first) != 1 || first[0].State != "active" {
		t.Fatalf("new tenant keyring = %+v", first)
	}

	t.Run("rotation makes a new active key and gives the old one the absolute timeout as grace", func(t *testing.T) {
		r := e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey})
		if r.Status != http.StatusCreated {
			t.Fatalf("rotate = %d %s", r.Status, r.Body)
		}
		keys := e.keys(a.APIKey)
		if len(keys) != 2 || keys[0].State != "active" || keys[1].KID != first[0].KID || keys[1].State != "retiring" {
			t.Fatalf("keyring = %+v", keys)
		}
		want := e.clock.Now().Add(8 * time.Hour)
		if keys[1].RetiresAt == nil || !keys[1].RetiresAt.Equal(want) {
			t.Fatalf("retires_at = %v, want %v", keys[1].RetiresAt, want)
		}
	})

	t.Run("a retiring key retires by itself when its grace ends", func(t *testing.T) {
		e.clock.Advance(8*time.Hour - time.Second)
		if k := e.keys(a.APIKey)[1]; k.State != "retiring" {
			t.Fatalf("1s before the end of grace: %s", k.State)
		}
		e.clock.Advance(time.Second)
		if k := e.keys(a.APIKey)[1]; k.State != "retired" || k.RetiredAt == nil {
			t.Fatalf("at the end of grace: %+v", k)
		}
	})

	t.Run("an explicit grace period and an early retirement", func(t *testing.T) {
		r := e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey, body: map[string]any{"grace_period": 60}})
		if r.Status != http.StatusCreated {
			t.Fatalf("rotate = %d %s", r.Status, r.Body)
		}
		keys := e.keys(a.APIKey)
		retiring := keys[1]
		if retiring.State != "retiring" || !retiring.RetiresAt.Equal(e.clock.Now().Add(time.Minute)) {
			t.Fatalf("retiring = %+v", retiring)
		}
		r = e.do(req{method: "POST", path: "/v1/keys/" + retiring.KID + "/retire", token: a.APIKey})
		var k keyMeta
		r.decode(t, &k)
		if r.Status != http.StatusOK || k.State != "retired" {
			t.Fatalf("retire = %d %s", r.Status, r.Body)
		}
	})

	t.Run("the active key cannot be retired", func(t *testing.T) {
		active := e.keys(a.APIKey)[0]
		r := e.do(req{method: "POST", path: "/v1/keys/" + active.KID + "/retire", token: a.APIKey})
		if r.Status != http.StatusConflict || r.code(t) != "conflict" {
			t.Fatalf("retire active = %d %s", r.Status, r.Body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for name, c := range map[string]struct {
			r    req
			want int
		}{
			"a negative grace": {req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey, body: `{"grace_period": -1}`}, 400},
			"an unknown field": {req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey, body: `{"grace": 1}`}, 400},
			"a malformed kid":  {req{method: "POST", path: "/v1/keys/k_%7B%7D/retire", token: a.APIKey}, 400},
			"an unknown kid":   {req{method: "POST", path: "/v1/keys/k_aaaaaaaaaaaaaaaa/retire", token: a.APIKey}, 404},
			"GET on rotate":    {req{method: "GET", path: "/v1/keys/rotate", token: a.APIKey}, 405},
		} {
			if r := e.do(c.r); r.Status != c.want {
				t.Errorf("%s: got %d %s, want %d", name, r.Status, r.Body, c.want)
			}
		}
	})

	e.flushEvents()
	var evs struct {
		Events []struct{ Type string } `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events?type=key.rotated", token: a.APIKey}).decode(t, &evs)
	if len(evs.Events) != 2 {
		t.Fatalf("key.rotated events = %d, want 2", len(evs.Events))
	}
}
