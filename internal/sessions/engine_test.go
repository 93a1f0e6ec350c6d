package sessions_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

func TestRoundTrips(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 2 })
	tid := snap.Tenant.ID
	check := func(name string, max int64, f func()) {
		t.Helper()
		n, cmds := e.count.trips(f)
		if n > max || n == 0 {
			t.Fatalf("%s: %d round trips (%v), want %d", name, n, cmds, max)
		}
		t.Logf("%s: %d round trip(s) %v", name, n, cmds)
	}
	var c sessions.Created
	for range 3 { // the third create evicts
		check("create with limit", 1, func() { c = e.create(tid, sessions.CreateParams{UserID: "alice"}) })
	}
	if len(c.Evicted) != 1 {
		t.Fatalf("evicted %v", c.Evicted)
	}
	check("verify", 1, func() { e.mustVerify(tid, c.Token) })
	e.clock.Advance(101 * time.Second) // the login (create with a user) is older than max_auth_age
	check("verify with every check", 1, func() {
		_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token, CSRFToken: &c.CSRFToken, MaxAuthAge: testkit.Ptr(100), Device: &sessions.Device{UserAgent: "x", IP: "192.0.2.1"}}, sessions.Meta{})
		wantCode(t, err, fault.ReauthRequired)
	})
	var r sessions.Created
	var err error
	check("regenerate in the same bucket", 1, func() {
		r, err = e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: c.Token, Reauthenticated: true}, sessions.Meta{})
	})
	if err != nil {
		t.Fatal(err)
	}
	anon := e.create(tid, sessions.CreateParams{})
	for anon.Session.ID[1:3] == r.Session.ID[1:3] { // make sure the bucket changes
		anon = e.create(tid, sessions.CreateParams{})
	}
	check("regenerate across buckets", 2, func() {
		r, err = e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: anon.Token, UserID: testkit.Ptr("alice")}, sessions.Meta{})
	})
	if err != nil {
		t.Fatal(err)
	}
	check("revoke user", 1, func() {
		if _, err := e.m.RevokeUser(e.ctx, tid, "alice", r.Session.ID, sessions.Meta{}); err != nil {
			t.Fatal(err)
		}
	})
	check("revoke", 1, func() {
		if err := e.m.Revoke(e.ctx, tid, r.Session.ID, sessions.Meta{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConcurrentCreatesRespectTheCapAndReportEachEvictionOnce(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 3; p.OnLimit = tenants.EvictOldest })
	tid := snap.Tenant.ID
	const n = 50
	results := make([]sessions.Created, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "alice"}, sessions.Meta{})
		}()
	}
	wg.Wait()
	created := map[string]bool{}
	evicted := map[string]int{}
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		created[r.Session.ID] = true
		for _, id := range r.Evicted {
			evicted[id]++
		}
	}
	live, err := e.m.ListUser(e.ctx, tid, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 3 {
		t.Fatalf("%d live sessions, want 3", len(live))
	}
	for id, k := range evicted {
		if k != 1 {
			t.Fatalf("%s reported evicted %d times", id, k)
		}
		if !created[id] {
			t.Fatalf("evicted unknown id %s", id)
		}
	}
	if len(evicted) != n-3 {
		t.Fatalf("%d evicted, want %d", len(evicted), n-3)
	}
	for _, s := range live {
		if evicted[s.ID] != 0 {
			t.Fatalf("live session %s reported evicted", s.ID)
		}
	}
	if got := len(e.events.OfType(events.SessionEvicted)); got != n-3 {
		t.Fatalf("%d session.evicted events, want %d", got, n-3)
	}
	if got := len(e.events.OfType(events.SessionCreated)); got != n {
		t.Fatalf("%d session.created events, want %d", got, n)
	}
}

func TestCapEvictsTheOldestAndRejectRefuses(t *testing.T) {
	e := newEnv(t)
	evict := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 2 })
	var ids []string
	for range 4 {
		c := e.create(evict.Tenant.ID, sessions.CreateParams{UserID: "alice"})
		ids = append(ids, c.Session.ID)
		if len(ids) > 2 && (len(c.Evicted) != 1 || c.Evicted[0] != ids[len(ids)-3]) {
			t.Fatalf("evicted %v, want the oldest %s", c.Evicted, ids[len(ids)-3])
		}
		e.clock.Advance(time.Second)
	}
	// Revoked and expired sessions do not count.
	if err := e.m.Revoke(e.ctx, evict.Tenant.ID, ids[3], sessions.Meta{}); err != nil {
		t.Fatal(err)
	}
	if c := e.create(evict.Tenant.ID, sessions.CreateParams{UserID: "alice"}); len(c.Evicted) != 0 {
		t.Fatalf("evicted %v after a revoke", c.Evicted)
	}

	reject := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 2; p.OnLimit = tenants.Reject; p.IdleTimeout = 60 })
	rt := reject.Tenant.ID
	e.create(rt, sessions.CreateParams{UserID: "bob"})
	second := e.create(rt, sessions.CreateParams{UserID: "bob"})
	_, err := e.m.Create(e.ctx, rt, sessions.CreateParams{UserID: "bob"}, sessions.Meta{})
	wantCode(t, err, fault.SessionLimitReached)
	if got := e.events.OfType(events.SessionLimitRejected); len(got) != 1 || got[0].UserID != "bob" {
		t.Fatalf("limit events %+v", got)
	}
	// Regenerating within the cap is allowed (the old session makes room).
	if _, err := e.m.Regenerate(e.ctx, rt, sessions.RegenerateParams{Token: second.Token, UserID: testkit.Ptr("bob")}, sessions.Meta{}); err != nil {
		t.Fatalf("regenerate at the cap: %v", err)
	}
	// Logging in an anonymous session as bob is refused; the old session is
	// intact when the bucket does not change, gone when it does.
	anon := e.create(rt, sessions.CreateParams{})
	_, err = e.m.Regenerate(e.ctx, rt, sessions.RegenerateParams{Token: anon.Token, UserID: testkit.Ptr("bob")}, sessions.Meta{})
	wantCode(t, err, fault.SessionLimitReached)
	// Dead sessions do not count.
	e.clock.Advance(61 * time.Second)
	if _, err := e.m.Create(e.ctx, rt, sessions.CreateParams{UserID: "bob"}, sessions.Meta{}); err != nil {
		t.Fatalf("create after the others expired: %v", err)
	}
}

func TestPerRequestTimeoutsMayOnlyShorten(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 600; p.AbsoluteTimeout = 3600 })
	tid := snap.Tenant.ID
	for _, tc := range []struct {
		name      string
		idle, abs *int
		field     string
	}{
		{"idle longer than the policy", testkit.Ptr(601), nil, "idle_timeout"},
		{"absolute longer than the policy", nil, testkit.Ptr(3601), "absolute_timeout"},
		{"idle zero", testkit.Ptr(0), nil, "idle_timeout"},
		{"absolute negative", nil, testkit.Ptr(-5), "absolute_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.m.Create(e.ctx, tid, sessions.CreateParams{IdleTimeout: tc.idle, AbsoluteTimeout: tc.abs}, sessions.Meta{})
			wantCode(t, err, fault.InvalidRequest)
			if f := fieldOf(err); f != tc.field {
				t.Fatalf("field %q, want %q", f, tc.field)
			}
		})
	}
	c := e.create(tid, sessions.CreateParams{IdleTimeout: testkit.Ptr(30), AbsoluteTimeout: testkit.Ptr(100)})
	now := e.clock.Now()
	if c.Session.IdleTimeout != 30 || !c.Session.ExpiresAt.Equal(now.Add(100*time.Second)) || !c.Session.IdleExpiresAt.Equal(now.Add(30*time.Second)) {
		t.Fatalf("session %+v", c.Session)
	}
	e.clock.Advance(25 * time.Second)
	if v := e.mustVerify(tid, c.Token); !v.Session.IdleExpiresAt.Equal(e.clock.Now().Add(30 * time.Second)) {
		t.Fatalf("slid to %v", v.Session.IdleExpiresAt)
	}
	e.clock.Advance(31 * time.Second)
	_, err := e.verify(tid, c.Token)
	wantCode(t, err, fault.SessionExpiredIdle)

	// An idle timeout above a shortened absolute one is capped by it.
	c = e.create(tid, sessions.CreateParams{AbsoluteTimeout: testkit.Ptr(60)})
	if c.Session.IdleTimeout != 60 || !c.Session.IdleExpiresAt.Equal(c.Session.ExpiresAt.Time) {
		t.Fatalf("session %+v", c.Session)
	}
}

func TestDataMustBeASmallJSONObject(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.MaxDataBytes = 64 })
	tid := snap.Tenant.ID
	for _, tc := range []struct {
		data string
		code fault.Code
		want string
	}{
		{"", "", "{}"},
		{"null", "", "{}"},
		{`{ "a" : [1, 2] }`, "", `{"a":[1,2]}`},
		{`[1,2]`, fault.InvalidRequest, ""},
		{`"text"`, fault.InvalidRequest, ""},
		{`42`, fault.InvalidRequest, ""},
		{`{"a":`, fault.InvalidRequest, ""},
		{`{"a":1} {"b":2}`, fault.InvalidRequest, ""},
		{`{"a":"` + strings.Repeat("x", 60) + `"}`, fault.PayloadTooLarge, ""},
	} {
		t.Run(tc.data, func(t *testing.T) {
			c, err := e.m.Create(e.ctx, tid, sessions.CreateParams{Data: json.RawMessage(tc.data)}, sessions.Meta{})
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(c.Session.Data) != tc.want {
				t.Fatalf("data %s, want %s", c.Session.Data, tc.want)
			}
			if got, _ := e.m.Get(e.ctx, tid, c.Session.ID); string(got.Data) != tc.want {
				t.Fatalf("stored data %s", got.Data)
			}
		})
	}
	_, err := e.m.Create(e.ctx, tid, sessions.CreateParams{Device: sessions.Device{IP: "not-an-ip"}}, sessions.Meta{})
	wantCode(t, err, fault.InvalidRequest)
}

func TestPatchDataMergesAndChecksTheVersion(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.MaxDataBytes = 200 })
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{Data: json.RawMessage(`{"a":1,"b":{"c":2,"k":true},"big":12345678901234567890}`)})
	if c.Session.Version != 1 {
		t.Fatalf("version %d", c.Session.Version)
	}
	s, err := e.m.PatchData(e.ctx, tid, c.Session.ID, json.RawMessage(`{"b":{"c":null,"d":[3]},"e":"<x>"}`), nil, sessions.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	_ = json.Unmarshal(s.Data, &got)
	_ = json.Unmarshal([]byte(`{"a":1,"b":{"k":true,"d":[3]},"e":"<x>","big":12345678901234567890}`), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) || !strings.Contains(string(s.Data), "12345678901234567890") {
		t.Fatalf("merged %s", s.Data)
	}
	if s.Version != 2 {
		t.Fatalf("version %d, want 2", s.Version)
	}
	_, err = e.m.PatchData(e.ctx, tid, c.Session.ID, json.RawMessage(`{"a":2}`), testkit.Ptr(int64(1)), sessions.Meta{})
	wantCode(t, err, fault.VersionConflict)
	s, err = e.m.PatchData(e.ctx, tid, c.Session.ID, json.RawMessage(`{"a":2}`), testkit.Ptr(int64(2)), sessions.Meta{})
	if err != nil || s.Version != 3 {
		t.Fatalf("patch at version 2: %v, version %d", err, s.Version)
	}
	_, err = e.m.PatchData(e.ctx, tid, c.Session.ID, json.RawMessage(`[1]`), nil, sessions.Meta{})
	wantCode(t, err, fault.InvalidRequest)
	_, err = e.m.PatchData(e.ctx, tid, c.Session.ID, json.RawMessage(`{"pad":"`+strings.Repeat("p", 200)+`"}`), nil, sessions.Meta{})
	wantCode(t, err, fault.PayloadTooLarge)
	if got, _ := e.m.Get(e.ctx, tid, c.Session.ID); got.Version != 3 {
		t.Fatalf("a refused patch changed the version to %d", got.Version)
	}

	// Concurrent unconditional patches all land.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.m.PatchData(e.ctx, tid, c.Session.ID, json.RawMessage(fmt.Sprintf(`{"k%d":1}`, i)), nil, sessions.Meta{}); err != nil && !fault.Is(err, fault.VersionConflict) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_, err = e.m.PatchData(e.ctx, tid, "s"+c.Session.ID[1:3]+"_"+strings.Repeat("b", 32), json.RawMessage(`{}`), nil, sessions.Meta{})
	wantCode(t, err, fault.NotFound)
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 2 * 3600 })
	tid := snap.Tenant.ID
	old := snap.Keys[0]
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})

	next := newKey(tid, tenants.KeyActive, e.clock.Now())
	retires := e.clock.Now().Add(time.Hour)
	e.tenants.update(tid, func(s *tenants.Snapshot) {
		s.Keys[0].State = tenants.KeyRetiring
		s.Keys[0].RetiresAt = &retires
		s.Keys = append(s.Keys, next)
	})
	v := e.mustVerify(tid, c.Token)
	if v.Token == "" || v.Token == c.Token || !strings.Contains(v.Token, next.ID) {
		t.Fatalf("re-signed token missing or not signed by the active key (set: %v)", v.Token != "")
	}
	if v.Session.ID != c.Session.ID || v.CSRFToken != c.CSRFToken {
		t.Fatal("re-signing changed the session id or CSRF token")
	}
	if v2 := e.mustVerify(tid, v.Token); v2.Token != "" || v2.Session.ID != c.Session.ID {
		t.Fatal("a token of the active key was re-signed")
	}
	if n := e.create(tid, sessions.CreateParams{}); !strings.Contains(n.Token, next.ID) {
		t.Fatal("new tokens are not signed by the active key")
	}

	// The grace period ends: the old key is retired.
	e.clock.Advance(time.Hour)
	_, err := e.verify(tid, c.Token)
	wantCode(t, err, fault.SessionInvalid)
	e.mustVerify(tid, v.Token)
	// Explicitly retired, too.
	e.tenants.update(tid, func(s *tenants.Snapshot) { s.Keys[0].State = tenants.KeyRetired; s.Keys[0].Secret = nil })
	n, _ := e.count.trips(func() {
		_, err = e.verify(tid, c.Token)
	})
	wantCode(t, err, fault.SessionInvalid)
	if n != 0 {
		t.Fatalf("a retired key's token cost %d round trips", n)
	}
	_ = old
}

func TestListPagesThroughEveryBucketExactlyOnce(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	other := e.newTenant()
	tid := snap.Tenant.ID
	want := map[string]bool{}
	for i := range 250 {
		p := sessions.CreateParams{}
		switch {
		case i < 30:
			p.UserID = "dense" // one bucket, equal deadlines: ties inside a bucket
		case i%3 == 0:
			p.UserID = fmt.Sprintf("user%d", i)
		}
		want[e.create(tid, p).Session.ID] = true
		e.create(other.Tenant.ID, sessions.CreateParams{})
	}
	dead := e.create(tid, sessions.CreateParams{})
	if err := e.m.Revoke(e.ctx, tid, dead.Session.ID, sessions.Meta{}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{100, 7} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			seen := map[string]int{}
			cursor, pages := "", 0
			for {
				page, next, err := e.m.List(e.ctx, tid, "", cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page) > limit {
					t.Fatalf("page of %d", len(page))
				}
				for _, s := range page {
					seen[s.ID]++
				}
				if next == "" {
					break
				}
				cursor = next
				if pages > 300 {
					t.Fatal("listing does not end")
				}
			}
			if len(seen) != len(want) {
				t.Fatalf("listed %d sessions, want %d", len(seen), len(want))
			}
			for id, n := range seen {
				if n != 1 || !want[id] {
					t.Fatalf("%s listed %d times (ours: %v)", id, n, want[id])
				}
			}
			if limit == 100 && pages > 4 {
				t.Fatalf("%d pages", pages)
			}
		})
	}
	t.Run("one user", func(t *testing.T) {
		var got []string
		cursor := ""
		for {
			page, next, err := e.m.List(e.ctx, tid, "dense", cursor, 8)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, idsOf(page)...)
			if next == "" {
				break
			}
			cursor = next
		}
		all, _ := e.m.ListUser(e.ctx, tid, "dense")
		if len(got) != 30 || !slices.Equal(got, idsOf(all)) {
			t.Fatalf("paged %d, listed %d", len(got), len(all))
		}
	})
	for _, bad := range []string{"x", "1.2", "2000.1.sab_" + strings.Repeat("a", 32), "0.1.s{a}_x"} {
		_, _, err := e.m.List(e.ctx, tid, "", bad, 10)
		wantCode(t, err, fault.InvalidRequest)
	}
}

func TestListDropsExpiredSessions(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 60 })
	tid := snap.Tenant.ID
	e.create(tid, sessions.CreateParams{UserID: "alice"})
	e.clock.Advance(61 * time.Second)
	live := e.create(tid, sessions.CreateParams{UserID: "alice"})
	page, next, err := e.m.List(e.ctx, tid, "", "", 50)
	if err != nil || next != "" || len(page) != 1 || page[0].ID != live.Session.ID {
		t.Fatalf("list: %v %q %v", idsOf(page), next, err)
	}
	all, err := e.m.ListUser(e.ctx, tid, "alice")
	if err != nil || len(all) != 1 {
		t.Fatalf("list user: %v %v", idsOf(all), err)
	}
}

func TestPurgeTenantDeletesOnlyThatTenant(t *testing.T) {
	e := newEnv(t)
	a, b := e.newTenant(), e.newTenant()
	for i := range 60 {
		for _, s := range []*tenants.Snapshot{a, b} {
			p := sessions.CreateParams{}
			if i%2 == 0 {
				p.UserID = fmt.Sprintf("user%d", i%7)
			}
			e.create(s.Tenant.ID, p)
		}
	}
	bKeys := e.tenantKeys(b.Tenant.ID)
	if len(e.tenantKeys(a.Tenant.ID)) == 0 || len(bKeys) == 0 {
		t.Fatal("no keys created")
	}
	mustPurge(t, e, a.Tenant.ID)
	if left := e.tenantKeys(a.Tenant.ID); len(left) != 0 {
		t.Fatalf("tenant A keys left: %v", left)
	}
	after := e.tenantKeys(b.Tenant.ID)
	slices.Sort(bKeys)
	slices.Sort(after)
	if !slices.Equal(bKeys, after) {
		t.Fatalf("tenant B keys changed: %d → %d", len(bKeys), len(after))
	}
}

func TestGetReturnsLiveSessionsOnly(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 60 })
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice", Device: sessions.Device{UserAgent: "curl/8.0", IP: "::ffff:192.0.2.4", Label: "my laptop"}})
	s, err := e.m.Get(e.ctx, tid, c.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Device.IP != "192.0.2.4" || s.Device.Label != "my laptop" || s.UserID != "alice" || s.Version != 1 {
		t.Fatalf("session %+v", s)
	}
	js, _ := json.Marshal(s)
	for _, field := range []string{`"id"`, `"created_at"`, `"last_seen_at"`, `"expires_at"`, `"idle_expires_at"`, `"idle_timeout":60`, `"device"`, `"data":{}`, `"version":1`} {
		if !strings.Contains(string(js), field) {
			t.Fatalf("JSON %s lacks %s", js, field)
		}
	}
	e.clock.Advance(61 * time.Second)
	_, err = e.m.Get(e.ctx, tid, c.Session.ID)
	wantCode(t, err, fault.NotFound)
}

func TestDeviceLabel(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36":                       "Chrome 126 on macOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0":                                                        "Firefox 127 on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari 17 on iPhone",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0":                   "Edge 126 on Windows",
		"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36":                                "Chrome 126 on Android",
		"curl/8.5.0": "curl 8",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "Googlebot (bot)",
		"": "",
	} {
		if got := sessions.DeviceLabel(ua); got != want {
			t.Errorf("DeviceLabel(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	m := sessions.NewManager(redisstore.New(down, redisstore.Options{Prefix: e.prefix}), e.tenants, sessions.Options{Now: e.clock.Now})
	meta := sessions.Meta{}
	_, err := m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token}, meta)
	wantCode(t, err, fault.Unavailable)
	if strings.Contains(err.Error(), c.Token) {
		t.Fatal("error contains the token")
	}
	_, err = m.Create(e.ctx, tid, sessions.CreateParams{UserID: "alice"}, meta)
	wantCode(t, err, fault.Unavailable)
	_, err = m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: c.Token}, meta)
	wantCode(t, err, fault.Unavailable)
	_, err = m.Get(e.ctx, tid, c.Session.ID)
	wantCode(t, err, fault.Unavailable)
	_, _, err = m.List(e.ctx, tid, "", "", 10)
	wantCode(t, err, fault.Unavailable)
	_, err = m.ListUser(e.ctx, tid, "alice")
	wantCode(t, err, fault.Unavailable)
	_, err = m.RevokeUser(e.ctx, tid, "alice", "", meta)
	wantCode(t, err, fault.Unavailable)
	wantCode(t, m.Revoke(e.ctx, tid, c.Session.ID, meta), fault.Unavailable)
	// A forged token still needs no Redis at all.
	_, err = m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token + "x"}, meta)
	wantCode(t, err, fault.SessionInvalid)
}
