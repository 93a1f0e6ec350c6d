package redisstore_test

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// luaArg matches one named argument in a script's header:
// `name = tonumber(ARGV[i]),` or `name = ARGV[i] == '1',`.
var luaArg = regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*[^\n]*\bARGV\[(\d+)\]`)

// Each script names its arguments once, at its top; Go passes them in the
// same order, by the same names.
func TestScriptArgumentsMatchTheirLuaNames(t *testing.T) {
	for name, goNames := range redisstore.ArgNames() {
		t.Run(name, func(t *testing.T) {
			src := redisstore.ScriptSource(name)
			var luaNames []string
			for _, m := range luaArg.FindAllStringSubmatch(src, -1) {
				i, _ := strconv.Atoi(m[2])
				if i != len(luaNames)+1 {
					t.Fatalf("ARGV[%d] (%s) out of order", i, m[1])
				}
				luaNames = append(luaNames, m[1])
			}
			if !slices.Equal(luaNames, goNames) {
				t.Fatalf("Lua names %v, Go passes %v", luaNames, goNames)
			}
		})
	}
}

// A session key written by the hash layout of earlier versions is no
// session: reads skip it and verify answers as for a session Redis
// expired, never with a store failure (docs/architecture.md: live sessions
// may be dropped on upgrade).
func TestSessionsOfTheHashLayoutAreDropped(t *testing.T) {
	rdb := testkit.Redis(t)
	ctx := context.Background()
	prefix := testkit.Prefix(t, rdb)
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	now := time.Now().UnixMilli()
	ref := sessions.Ref{TenantID: "tn_test", Bucket: 7, ID: "sah_" + "abcdefghijklmnopqrstuvwxyz234567"}
	rec := sessions.Record{UserID: "alice", CreatedAt: now, LastSeenAt: now, AuthTime: now, ExpiresAt: now + 3_600_000,
		IdleTimeout: 600, IdleExpiresAt: now + 600_000, Data: "{}", Version: 1, KeyID: "k_x"}
	created, err := s.Create(ctx, sessions.CreateCall{Ref: ref, Record: rec, Cap: sessions.Cap{Max: 2}, Now: now})
	if err != nil || created.Status != sessions.StatusOK {
		t.Fatalf("Create: %+v %v", created, err)
	}
	key := prefix + ":{tn_test:" + ref.Bucket.String() + "}:s:" + ref.ID
	rdb.Del(ctx, key)
	rdb.HSet(ctx, key, "uid", "alice", "exp", now+3_600_000, "iexp", now+600_000)

	if _, found, err := s.Get(ctx, ref); found || err != nil {
		t.Fatalf("Get: found %v, %v", found, err)
	}
	at := []sessions.Position{{Bucket: ref.Bucket, Score: now + 3_600_000, ID: ref.ID}}
	if _, found, err := s.Records(ctx, "tn_test", at, "", now); err != nil || found[0] {
		t.Fatalf("Records: found %v, %v", found, err)
	}
	if res, err := s.Patch(ctx, sessions.PatchCall{Ref: ref, Version: 1, Data: "{}", Now: now}); err != nil || res.Status != sessions.StatusMissing {
		t.Fatalf("Patch: %+v %v", res, err)
	}
	verify := sessions.VerifyCall{Ref: ref, Now: now, Timeouts: sessions.Timeouts{IdleTimeout: 600, AbsoluteTimeout: 3600},
		MaxAuthAge: sessions.NoMaxAuthAge, UserAgentMode: tenants.BindingOff, IPMode: tenants.BindingOff}
	if res, err := s.Verify(ctx, verify); err != nil || res.Status != sessions.StatusExpiredIdle {
		t.Fatalf("Verify: %+v %v", res, err)
	}
	if res, err := s.Verify(ctx, verify); err != nil || res.Status != sessions.StatusMissing {
		t.Fatalf("second Verify: %+v %v", res, err)
	}
	// A new session of the user is not held back by it.
	ref2 := ref
	ref2.ID = "sah_" + "bbcdefghijklmnopqrstuvwxyz234567"
	if res, err := s.Create(ctx, sessions.CreateCall{Ref: ref2, Record: rec, Cap: sessions.Cap{Max: 1}, Now: now}); err != nil || res.Status != sessions.StatusOK || len(res.Evicted) != 0 {
		t.Fatalf("Create: %+v %v", res, err)
	}
}
