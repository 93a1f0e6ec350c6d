package goclienttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/clients/go/sessiond"
	"github.com/sessiond/sessiond/internal/apptest"
)

// The local session cache (WithCache) against a real sessiond (and a second
// instance of it) and its change stream: whatever can make a cached session
// wrong must reach the cache before a hit accepts it, and a cache that
// cannot know serves nothing. The server's clock is the test's; the cache
// is given the same one.

var cacheDevice = &sessiond.DeviceIn{UserAgent: "go-cache-test", IP: "203.0.113.9"}

type cacheEnv struct {
	t     *testing.T
	srv   *apptest.Server
	key   string
	plain *sessiond.Client
}

func newCacheEnv(t *testing.T) *cacheEnv {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	srv := apptest.Start(t, apptest.Options{})
	tn := srv.CreateTenant(t, "go cache")
	return &cacheEnv{t: t, srv: srv, key: tn.APIKey, plain: mustClient(t, srv.HTTP.URL, tn.APIKey)}
}

// cached returns a ready client with the cache on, calling base.
func (e *cacheEnv) cached(base string) *sessiond.Client {
	e.t.Helper()
	c, err := sessiond.New(base, e.key, sessiond.WithTimeout(2*time.Second), sessiond.WithCache(sessiond.CacheOptions{Now: e.srv.Clock.Now}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	waitFor(e.t, "the stream to be ready", func() bool { return c.CacheStats().Ready })
	return c
}

// login creates a logged-in session and caches it in c (a miss, then a hit).
func (e *cacheEnv) login(c *sessiond.Client, user string) sessiond.Issued {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.plain.CreateSession(ctx, sessiond.CreateParams{UserID: user, Device: cacheDevice})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice}); err != nil {
		e.t.Fatal(err)
	}
	h := c.CacheStats().Hits
	if _, err := c.Verify(ctx, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice}); err != nil {
		e.t.Fatal(err)
	}
	if c.CacheStats().Hits != h+1 {
		e.t.Fatalf("the second verify was not a hit: %+v", c.CacheStats())
	}
	return s
}

// changeSeen makes a change (a throwaway session revoked) and waits until c applied it.
func (e *cacheEnv) changeSeen(c *sessiond.Client) {
	e.t.Helper()
	id := c.CacheStats().LastEventID
	s, err := e.plain.CreateSession(context.Background(), sessiond.CreateParams{UserID: "throwaway"})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.plain.RevokeSession(context.Background(), s.Session.ID); err != nil {
		e.t.Fatal(err)
	}
	waitFor(e.t, "the change", func() bool { return c.CacheStats().LastEventID != id })
}

func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	return sessiond.CodeOf(err)
}

func verifyCode(c *sessiond.Client, p sessiond.VerifyParams) string {
	_, err := c.Verify(context.Background(), p)
	return codeOf(err)
}

func TestCacheRevokeRacingHits(t *testing.T) {
	e := newCacheEnv(t)
	c := e.cached(e.srv.HTTP.URL)
	s := e.login(c, "race")
	before := c.CacheStats().LastEventID
	delivered := func() bool { return c.CacheStats().LastEventID != before }
	var stop atomic.Bool
	var stale, early atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				after := delivered()
				code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice})
				switch {
				case code == "ok" && after:
					stale.Add(1)
				case code == "ok":
					early.Add(1)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := e.plain.RevokeSession(context.Background(), s.Session.ID); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, "the revocation to reach the cache", delivered)
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("revocation delivered %v after the acknowledgement; %d hits before", d, early.Load())
	if early.Load() == 0 || stale.Load() != 0 {
		t.Fatalf("hits before the revoke: %d (want some); accepted after delivery: %d (want 0)", early.Load(), stale.Load())
	}
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice}); code != sessiond.CodeSessionInvalid {
		t.Fatalf("after the revoke: %s", code)
	}
}

func TestCacheTwoInstances(t *testing.T) {
	e := newCacheEnv(t)
	sibling := e.srv.Sibling(t)
	a := e.cached(e.srv.HTTP.URL)
	b := e.cached(sibling.HTTP.URL) // another app, its stream from the other sessiond instance
	s := e.login(a, "two")
	e.login(b, "two-other")
	for range 2 {
		_, _ = b.Verify(context.Background(), sessiond.VerifyParams{Token: s.Token, Device: cacheDevice})
	}
	id := b.CacheStats().LastEventID
	if err := a.RevokeToken(context.Background(), s.Token); err != nil {
		t.Fatal(err)
	}
	if code := verifyCode(a, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice}); code != sessiond.CodeSessionInvalid {
		t.Fatalf("a after its own logout: %s", code)
	}
	waitFor(t, "b to hear of it", func() bool { return b.CacheStats().LastEventID != id })
	if code := verifyCode(b, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice}); code != sessiond.CodeSessionInvalid {
		t.Fatalf("b after the logout on a: %s", code)
	}
}

func TestCacheCSRFAndReauth(t *testing.T) {
	e := newCacheEnv(t)
	c := e.cached(e.srv.HTTP.URL)
	s := e.login(c, "csrf")
	good, bad, empty := s.CSRFToken, s.CSRFToken[:len(s.CSRFToken)-1]+"x", ""
	h := c.CacheStats().Hits
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice, CSRFToken: &good}); code != "ok" || c.CacheStats().Hits != h+1 {
		t.Fatalf("right CSRF token: %s, %+v", code, c.CacheStats())
	}
	for _, tok := range []*string{&bad, &empty} {
		if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice, CSRFToken: tok}); code != sessiond.CodeCSRFMismatch {
			t.Fatalf("CSRF token %q: %s", *tok, code)
		}
	}
	s = e.login(c, "reauth")
	hour, one := 3600, 1
	h = c.CacheStats().Hits
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice, MaxAuthAge: &hour}); code != "ok" || c.CacheStats().Hits != h+1 {
		t.Fatalf("recent auth: %s, %+v", code, c.CacheStats())
	}
	e.srv.Clock.Advance(2 * time.Second)
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice, MaxAuthAge: &one}); code != sessiond.CodeReauthRequired {
		t.Fatalf("auth 2 s old, max 1 s: %s", code)
	}
}

func TestCachePolicyAndKeys(t *testing.T) {
	e := newCacheEnv(t)
	c := e.cached(e.srv.HTTP.URL)
	ctx := context.Background()

	// Policy tightening: an IP binding turned on applies to cached sessions.
	s := e.login(c, "binding")
	other := &sessiond.DeviceIn{UserAgent: cacheDevice.UserAgent, IP: "198.51.100.1"}
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: other}); code != "ok" {
		t.Fatalf("binding off, another IP: %s", code)
	}
	id := c.CacheStats().LastEventID
	e.adminJSON("PUT", "/v1/policy", func(p map[string]any) { p["binding"].(map[string]any)["ip"] = "enforce" })
	waitFor(t, "the policy change", func() bool { return c.CacheStats().LastEventID != id })
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: other}); code != sessiond.CodeBindingMismatch {
		t.Fatalf("binding enforced, another IP: %s", code)
	}
	id = c.CacheStats().LastEventID
	e.adminJSON("PUT", "/v1/policy", func(p map[string]any) { p["binding"].(map[string]any)["ip"] = "off" })
	// The change empties the cache when it arrives: wait for it, so that it
	// cannot fall between the next login's miss and its hit.
	waitFor(t, "the policy change back", func() bool { return c.CacheStats().LastEventID != id })

	// Key retirement: a cached token of the retired key is dead.
	s = e.login(c, "keys")
	old, err := e.plain.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.plain.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	id = c.CacheStats().LastEventID
	if _, err := e.plain.RetireKey(ctx, old[0].KID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the key events", func() bool { return c.CacheStats().LastEventID != id })
	if code := verifyCode(c, sessiond.VerifyParams{Token: s.Token, Device: cacheDevice}); code != sessiond.CodeSessionInvalid {
		t.Fatalf("token of a retired key: %s", code)
	}
}

// adminJSON reads the JSON at path with GET, changes it and sends it back with method.
func (e *cacheEnv) adminJSON(method, path string, change func(map[string]any)) {
	e.t.Helper()
	call := func(method string, body []byte) []byte {
		req, _ := http.NewRequest(method, e.srv.HTTP.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			e.t.Fatalf("%s %s: %s %s", method, path, res.Status, out)
		}
		return out
	}
	var v map[string]any
	if err := json.Unmarshal(call("GET", nil), &v); err != nil {
		e.t.Fatal(err)
	}
	change(v)
	b, _ := json.Marshal(v)
	call(method, b)
}

func TestCacheStreamCut(t *testing.T) {
	e := newCacheEnv(t)
	p := startProxy(t, e.srv.HTTP.Listener.Addr().String())
	c := e.cached("http://" + p.addr())
	gone := e.login(c, "cut")
	kept := e.login(c, "cut-2")
	e.changeSeen(c) // an id to resume from

	p.cut()
	waitFor(t, "the cache to see the cut", func() bool { return !c.CacheStats().Ready })
	h := c.CacheStats().Hits
	if code := verifyCode(c, sessiond.VerifyParams{Token: kept.Token, Device: cacheDevice}); code != sessiond.CodeUnavailable || c.CacheStats().Hits != h {
		t.Fatalf("stream down: %s, %+v (want sessiond asked, unreachable)", code, c.CacheStats())
	}
	if err := e.plain.RevokeSession(context.Background(), gone.Session.ID); err != nil { // during the cut
		t.Fatal(err)
	}
	p.resume()
	waitFor(t, "the stream to be ready again", func() bool { return c.CacheStats().Ready })
	if code := verifyCode(c, sessiond.VerifyParams{Token: gone.Token, Device: cacheDevice}); code != sessiond.CodeSessionInvalid {
		t.Fatalf("revoked during the cut: %s", code)
	}
	h = c.CacheStats().Hits
	if code := verifyCode(c, sessiond.VerifyParams{Token: kept.Token, Device: cacheDevice}); code != "ok" || c.CacheStats().Hits != h+1 {
		t.Fatalf("untouched session after the resume: %s, %+v (want a hit)", code, c.CacheStats())
	}
	if c.CacheStats().Resets != 0 {
		t.Fatalf("resumed with a reset: %+v", c.CacheStats())
	}
}

// proxy is a TCP proxy that can cut every connection and refuse new ones.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				down.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				down.Close()
				continue
			}
			p.conns[down], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, down); up.Close() }()
			go func() { _, _ = io.Copy(down, up); down.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = false
}
