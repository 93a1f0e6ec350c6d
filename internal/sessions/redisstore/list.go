package redisstore

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Walking a tenant: its NumBuckets bucket indexes, in order, a pipelined
// batch of ZRANGEs at a time. Batches start small (a dense tenant fills a
// page from its first buckets) and double while buckets come back empty (a
// sparse tenant is walked in few round trips). Never KEYS or SCAN.
const (
	firstBatch = 4
	maxBatch   = 128
	countBatch = 256 // bucket indexes one Count pipeline counts
	purgeBatch = 64  // at most this many purge scripts per pipeline
)

// Count implements sessions.Store: 1024 ZCOUNTs in 4 pipelined round trips.
func (s *Store) Count(ctx context.Context, tenantID string, now int64) (int64, error) {
	after := "(" + strconv.FormatInt(now, 10)
	var total int64
	for first := 0; first < sessions.NumBuckets; first += countBatch {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, countBatch)
		for i := range countBatch {
			cmds[i] = pipe.ZCount(ctx, s.keys(tenantID, sessions.Bucket(first+i)).index(), after, "+inf")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return 0, unavailable(err)
		}
		for _, c := range cmds {
			total += c.Val()
		}
	}
	return total, nil
}

// IndexEntries implements sessions.Store over the bucket indexes (score =
// absolute deadline).
func (s *Store) IndexEntries(ctx context.Context, tenantID string, after sessions.Position, need int, now int64) ([]sessions.Position, sessions.Position, error) {
	var out []sessions.Position
	b := after.Bucket
	if after.ID != "" {
		start := strconv.FormatInt(after.Score, 10)
		if after.Score <= now {
			start = "(" + strconv.FormatInt(now, 10)
		}
		rest, err := s.entriesAfter(ctx, s.keys(tenantID, b).index(), start, after, need)
		if err != nil {
			return nil, after, err
		}
		out = rest
		if len(out) == need {
			return out, out[need-1], nil
		}
		b++
	}
	live := "(" + strconv.FormatInt(now, 10)
	for batch := firstBatch; b < sessions.NumBuckets; batch = min(2*batch, maxBatch) {
		n := min(batch, sessions.NumBuckets-int(b))
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.ZSliceCmd, n)
		for i := range n {
			cmds[i] = pipe.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
				Key: s.keys(tenantID, b+sessions.Bucket(i)).index(), Start: live, Stop: "+inf", ByScore: true, Count: int64(need - len(out)),
			})
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, after, unavailable(err)
		}
		for i, cmd := range cmds {
			for _, z := range cmd.Val() {
				out = append(out, sessions.Position{Bucket: b + sessions.Bucket(i), Score: int64(z.Score), ID: member(z.Member)})
				if len(out) == need {
					return out, out[need-1], nil
				}
			}
		}
		b += sessions.Bucket(n)
		if len(out) > 0 {
			break
		}
	}
	return out, sessions.Position{Bucket: b}, nil
}

// UserEntries implements sessions.Store over the user's index (score =
// created_at).
func (s *Store) UserEntries(ctx context.Context, tenantID, userID string, after sessions.Position, need int) ([]sessions.Position, error) {
	start := "-inf"
	if after.ID != "" {
		start = strconv.FormatInt(after.Score, 10)
	}
	return s.entriesAfter(ctx, s.keys(tenantID, after.Bucket).user(userID), start, after, need)
}

// entriesAfter returns up to need entries of the zset key (of after's
// bucket) from score start on, strictly after (after.Score, after.ID) when
// after.ID is set. Entries that tie on score are ordered by id, so it reads
// past the ties it must skip, reading more while they fill a read.
func (s *Store) entriesAfter(ctx context.Context, key, start string, after sessions.Position, need int) ([]sessions.Position, error) {
	for count := int64(need + 16); ; count *= 2 {
		zs, err := s.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+inf", ByScore: true, Count: count}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		var out []sessions.Position
		for _, z := range zs {
			p := sessions.Position{Bucket: after.Bucket, Score: int64(z.Score), ID: member(z.Member)}
			if after.ID != "" && p.Score == after.Score && p.ID <= after.ID {
				continue
			}
			out = append(out, p)
			if len(out) == need {
				return out, nil
			}
		}
		if int64(len(zs)) < count {
			return out, nil
		}
	}
}

// Records implements sessions.Store: one pipeline of GETs, then, when some
// sessions are gone, one best-effort pipeline of ZREMs.
func (s *Store) Records(ctx context.Context, tenantID string, at []sessions.Position, userID string, now int64) ([]sessions.Record, []bool, error) {
	if len(at) == 0 {
		return nil, nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(at))
	for i, p := range at {
		cmds[i] = pipe.Get(ctx, s.keys(tenantID, p.Bucket).session(p.ID))
	}
	_, _ = pipe.Exec(ctx) // each command's error is read below
	recs := make([]sessions.Record, len(at))
	found := make([]bool, len(at))
	var gone []sessions.Position
	for i, cmd := range cmds {
		if err := readError(cmd.Err()); err != nil {
			return nil, nil, err
		}
		rec, err := decodeRecord(cmd.Val())
		if err != nil {
			gone = append(gone, at[i])
			continue
		}
		recs[i], found[i] = rec, true
	}
	if len(gone) > 0 {
		s.forget(ctx, tenantID, gone, userID, now)
	}
	return recs, found, nil
}

// forget removes the index entries of sessions that are gone, best effort
// (they are dead either way): from the user's index at once, from the
// bucket index once it no longer needs them to report an expiry.
func (s *Store) forget(ctx context.Context, tenantID string, gone []sessions.Position, userID string, now int64) {
	clean := s.rdb.Pipeline()
	for _, p := range gone {
		ks := s.keys(tenantID, p.Bucket)
		switch {
		case userID != "":
			clean.ZRem(ctx, ks.user(userID), p.ID)
		case p.Score+sessions.ExpiryGrace.Milliseconds() <= now:
			clean.ZRem(ctx, ks.index(), p.ID)
		}
	}
	_, _ = clean.Exec(ctx)
}

// PurgeBuckets implements sessions.Store with purge.lua, one script per
// bucket, pipelined.
func (s *Store) PurgeBuckets(ctx context.Context, tenantID string, first sessions.Bucket, n int) error {
	for done := 0; done < n; done += purgeBatch {
		if err := s.purge(ctx, tenantID, first+sessions.Bucket(done), min(purgeBatch, n-done)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) purge(ctx context.Context, tenantID string, first sessions.Bucket, n int) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, n)
	for i := range n {
		cmds[i] = purgeScript.EvalSha(ctx, pipe, []string{s.keys(tenantID, first+sessions.Bucket(i)).index()}, values(purgeArgs())...)
	}
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds {
		err := cmd.Err()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			err = purgeScript.Run(ctx, s.rdb, []string{s.keys(tenantID, first+sessions.Bucket(i)).index()}, values(purgeArgs())...).Err()
		}
		if err != nil {
			return unavailable(err)
		}
	}
	return nil
}

func member(v any) string {
	s, _ := v.(string)
	return s
}
