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

// Count implements sessions.Store: 1024 ZCOUNTs of the entries scored
// after now (idle deadline) in 4 pipelined round trips.
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
// idle deadline, so only live sessions lie after now).
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

// Records implements sessions.Store: one pipeline of get.lua calls, then,
// when some sessions are gone, one best-effort pipeline of ZREMs.
func (s *Store) Records(ctx context.Context, tenantID string, at []sessions.Position, userID string, now int64) ([]sessions.Record, []bool, error) {
	if len(at) == 0 {
		return nil, nil, nil
	}
	calls := make([]call, len(at))
	for i, p := range at {
		calls[i] = call{keys: []string{s.keys(tenantID, p.Bucket).session(p.ID)}, args: values(getArgs(sessions.Ref{ID: p.ID}))}
	}
	reps, err := s.runAll(ctx, getScript, calls)
	if err != nil {
		return nil, nil, err
	}
	recs := make([]sessions.Record, len(at))
	found := make([]bool, len(at))
	var gone []sessions.Position
	for i, rep := range reps {
		if rep.status != sessions.StatusOK {
			if rep.n == 0 { // no key at all
				gone = append(gone, at[i])
			}
			continue
		}
		if recs[i], err = rep.record(); err != nil {
			return nil, nil, err
		}
		found[i] = true
	}
	if len(gone) > 0 {
		s.forget(ctx, tenantID, gone, userID)
	}
	return recs, found, nil
}

// forget removes the index entries of sessions whose key is gone, best
// effort (they are dead either way): from the user's index, or from the
// bucket index (a listing reads only entries scored after now, whose keys
// Redis has not expired, so verify has nothing to report about them).
func (s *Store) forget(ctx context.Context, tenantID string, gone []sessions.Position, userID string) {
	clean := s.rdb.Pipeline()
	for _, p := range gone {
		ks := s.keys(tenantID, p.Bucket)
		if userID != "" {
			clean.ZRem(ctx, ks.user(userID), p.ID)
		} else {
			clean.ZRem(ctx, ks.index(), p.ID)
		}
	}
	_, _ = clean.Exec(ctx)
}

// call is one script call of a pipeline.
type call struct {
	keys []string
	args []any
}

// runAll runs sc once per call in one pipeline (one round trip; on a
// Cluster, go-redis sends each master its part concurrently) and reads the
// replies in order. The calls Redis answered NOSCRIPT (a node that never
// loaded the script, or flushed it) did not run: those alone are sent
// again, with EVAL, in a second pipeline, as redis.Script.Run does for one
// call; the others ran once and are never run again, so a writing script
// is applied once per call.
func (s *Store) runAll(ctx context.Context, sc script, calls []call) ([]reply, error) {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := s.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = sc.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is read below
	var again []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe := s.rdb.Pipeline()
		for _, i := range again {
			cmds[i] = sc.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	reps := make([]reply, len(calls))
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if err != nil {
			return nil, unavailable(err)
		}
		if reps[i], err = parseReply(v); err != nil {
			return nil, err
		}
	}
	return reps, nil
}

// PurgeBuckets implements sessions.Store with purge.lua: a pipeline of one
// script per bucket, each deleting at most purgeChunk sessions, repeated
// for the buckets that still hold some.
func (s *Store) PurgeBuckets(ctx context.Context, tenantID string, first sessions.Bucket, n int) error {
	for done := 0; done < n; done += purgeBatch {
		var left []sessions.Bucket
		for i := range min(purgeBatch, n-done) {
			left = append(left, first+sessions.Bucket(done+i))
		}
		for len(left) > 0 {
			var err error
			if left, err = s.purge(ctx, tenantID, left); err != nil {
				return err
			}
		}
	}
	return nil
}

// purge runs one purge chunk in each bucket and returns those with more.
func (s *Store) purge(ctx context.Context, tenantID string, buckets []sessions.Bucket) ([]sessions.Bucket, error) {
	calls := make([]call, len(buckets))
	for i, b := range buckets {
		calls[i] = call{keys: []string{s.keys(tenantID, b).index()}, args: values(purgeArgs())}
	}
	reps, err := s.runAll(ctx, purgeScript, calls)
	if err != nil {
		return nil, err
	}
	var more []sessions.Bucket
	for i, rep := range reps {
		if rep.status == sessions.StatusMore {
			more = append(more, buckets[i])
		}
	}
	return more, nil
}

func member(v any) string {
	s, _ := v.(string)
	return s
}
