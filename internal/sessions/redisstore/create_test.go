package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/testkit"
)

// create.lua does not decode the session it is given: it stores Go's bytes
// as they are and indexes and expires the session by the fields Go passes
// beside them. Those must be the record's: the value, the scores and every
// key's Redis expiry are checked here, and the indexes' expiry follows their
// longest-lived entry, extended by a later one and never shortened.
func TestCreateStoresTheGivenBytesAndIndexesThemByTheRecord(t *testing.T) {
	rdb := testkit.Redis(t)
	ctx := context.Background()
	prefix := testkit.Prefix(t, rdb)
	s := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	now := time.Now().UnixMilli()
	grace := sessions.ExpiryGrace.Milliseconds()
	bucket := sessions.Bucket(9)
	base := prefix + ":{tn_test:" + bucket.String() + "}:"
	// create stores a session of alice last seen now, with these deadlines.
	create := func(id string, created, idleDeadline, deadline int64) sessions.Record {
		t.Helper()
		rec := sessions.Record{UserID: "alice", CreatedAt: created, LastSeenAt: now, AuthTime: created,
			ExpiresAt: deadline, IdleTimeout: (idleDeadline - now) / 1000, IdleExpiresAt: idleDeadline,
			Data: `{"cart":3}`, Version: 1, KeyID: "k_x", UserAgent: "curl/8", IP: "203.0.113.9", IPBinding: "\xcb\x00\x71"}
		ref := sessions.Ref{TenantID: "tn_test", Bucket: bucket, ID: "sah_" + id}
		res, err := s.Create(ctx, sessions.CreateCall{Ref: ref, Record: rec, Now: now,
			Timeouts: sessions.Timeouts{IdleTimeout: 3600, AbsoluteTimeout: 86_400}})
		if err != nil || res.Status != sessions.StatusOK {
			t.Fatalf("Create %s: %+v %v", id, res, err)
		}
		return rec
	}
	// expires checks that key's Redis expiry is at (ms), give or take the
	// time the test has taken.
	expires := func(key string, at int64) {
		t.Helper()
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want, elapsed := at-now, time.Now().UnixMilli()-now; ttl.Milliseconds() > want || ttl.Milliseconds() < want-elapsed-1000 {
			t.Errorf("%s expires in %d ms, want %d", key, ttl.Milliseconds(), want)
		}
	}

	first := create("a", now-60_000, now+1800_000, now+8*3600_000)
	if got, _ := rdb.Get(ctx, base+"s:sah_a").Result(); got != redisstore.EncodeRecord(first) {
		t.Fatalf("stored %q, want Go's encoding %q", got, redisstore.EncodeRecord(first))
	}
	if got, _ := rdb.ZScore(ctx, base+"u:alice", "sah_a").Result(); int64(got) != first.CreatedAt {
		t.Errorf("user index score %v, want created_at %d", got, first.CreatedAt)
	}
	if got, _ := rdb.ZScore(ctx, base+"idx", "sah_a").Result(); int64(got) < first.IdleExpiresAt-1 || int64(got) > first.IdleExpiresAt+1 {
		t.Errorf("bucket index score %v, want the idle deadline %d (±1 ms)", got, first.IdleExpiresAt)
	}
	expires(base+"s:sah_a", first.IdleExpiresAt+grace)
	expires(base+"idx", first.ExpiresAt+grace)
	expires(base+"u:alice", first.ExpiresAt)

	// A shorter-lived session leaves the indexes' expiry as it was.
	create("b", now, now+600_000, now+3600_000)
	expires(base+"idx", first.ExpiresAt+grace)
	expires(base+"u:alice", first.ExpiresAt)

	// A session's key expires at its absolute deadline when that comes
	// before its idle deadline plus the grace; a longer-lived session
	// extends the indexes' expiry.
	last := create("c", now-24*3600_000, now+60_000, now+61_000)
	expires(base+"s:sah_c", last.ExpiresAt)
	last = create("d", now, now+3600_000, now+24*3600_000)
	expires(base+"idx", last.ExpiresAt+grace)
	expires(base+"u:alice", last.ExpiresAt)
}
