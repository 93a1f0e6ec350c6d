package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
)

// eventParties is an event as listed, with its two parties.
type eventParties struct {
	Type   string `json:"type"`
	Device *struct {
		IP        string `json:"ip"`
		UserAgent string `json:"user_agent"`
		Label     string `json:"label"`
	} `json:"device"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Actor     string            `json:"actor"`
	Detail    map[string]string `json:"detail"`
}

func (e *env) eventsOf(key, typ string) []eventParties {
	e.t.Helper()
	var page struct {
		Events []eventParties `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events?type=" + typ, token: key}).decode(e.t, &page)
	return page.Events
}

// An event names the end user's device as the app passed it, and the
// caller (the app's server) apart, with its own IP and user agent.
func TestEventsNameTheEndUserApartFromTheCaller(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	const endUserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, header: map[string]string{"User-Agent": "shop-backend/1.4"},
		body: map[string]any{"user_id": "alice", "device": map[string]any{"ip": "203.0.113.7", "user_agent": endUserUA}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	e.flushEvents()
	list := e.eventsOf(a.APIKey, "session.created")
	if len(list) != 1 {
		t.Fatalf("session.created events: %+v", list)
	}
	ev := list[0]
	if ev.Device == nil || ev.Device.IP != "203.0.113.7" || ev.Device.UserAgent != endUserUA || ev.Device.Label == "" {
		t.Errorf("device = %+v, want the end user's IP, user agent and a label", ev.Device)
	}
	if ev.IP == "203.0.113.7" || ev.IP == "" || ev.UserAgent != "shop-backend/1.4" || len(ev.Actor) < len("api_key:x") || ev.Actor[:8] != "api_key:" {
		t.Errorf("caller = %q %q %q, want the app server's own", ev.Actor, ev.IP, ev.UserAgent)
	}
}

// verify.rate_limited says which source value was refused.
func TestRateLimitedEventNamesTheRefusedSource(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	for i := range 40 {
		r := e.verify(a.APIKey, fmt.Sprintf("v1.k_aaaaaaaaaaaaaaaa.aa.guess%d.mac", i), map[string]any{"device": map[string]any{"ip": "203.0.113.9"}})
		if r.Status == http.StatusTooManyRequests {
			break
		}
	}
	e.flushEvents()
	list := e.eventsOf(a.APIKey, "verify.rate_limited")
	if len(list) == 0 {
		t.Fatal("no verify.rate_limited event")
	}
	for _, ev := range list {
		if ev.Detail["source"] != "device_ip" || ev.Detail["source_ip"] != "203.0.113.9" || ev.Device == nil || ev.Device.IP != "203.0.113.9" {
			t.Errorf("rate-limited event = %+v, want source device_ip 203.0.113.9", ev)
		}
	}
}
