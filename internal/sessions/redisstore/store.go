// Package redisstore is the sessions.Store on Redis (standalone, Sentinel
// or Cluster, through go-redis's UniversalClient): the key layout, the
// session codec, the Lua scripts (one per operation, each one round trip)
// and every Redis command of the session engine. docs/architecture.md,
// "Redis layout", describes the keys and the packed session value.
//
// Every deadline comes from the engine's clock (the calls' Now) and every
// Redis expiry is relative to it (SET PX, PEXPIRE), so Redis's own clock
// never matters. Every key of one bucket shares the hash tag {T:B}, so each
// script touches one Cluster slot.
package redisstore

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Options configure a Store.
type Options struct {
	// Prefix starts every key, e.g. "sd" → "sd:{T:B}:...". Default "sd".
	Prefix string
}

// Store keeps sessions in Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ sessions.Store = (*Store)(nil)

// New returns a Store over rdb.
func New(rdb redis.UniversalClient, o Options) *Store {
	if o.Prefix == "" {
		o.Prefix = "sd"
	}
	return &Store{rdb: rdb, prefix: o.Prefix}
}

// Prepare loads every script into Redis (every master of a Cluster), so
// that the first call of each operation is already a single EVALSHA; a
// script Redis does not know is sent with EVAL anyway. It returns
// fault.Unavailable when Redis cannot be reached.
func (s *Store) Prepare(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// Create implements sessions.Store with create.lua.
func (s *Store) Create(ctx context.Context, c sessions.CreateCall) (sessions.CreateResult, error) {
	rep, err := s.run(ctx, createScript, s.createKeys(c), createArgs(c))
	if err != nil {
		return sessions.CreateResult{}, err
	}
	return rep.createResult(), nil
}

// CreateBatch implements sessions.Store with create.lua per call, in one
// pipeline (runEach): the calls of one bucket share a slot, so one master
// runs them, in order.
func (s *Store) CreateBatch(ctx context.Context, cs []sessions.CreateCall) ([]sessions.CreateResult, error) {
	return runEach(ctx, s, createScript, cs, s.createKeys, createArgs, func(r reply) (sessions.CreateResult, error) { return r.createResult(), nil })
}

// createKeys are create.lua's keys: the session, its bucket's index and,
// for a user's session, the user's index.
func (s *Store) createKeys(c sessions.CreateCall) []string {
	ks := s.keys(c.Ref.TenantID, c.Ref.Bucket)
	keys := []string{ks.session(c.Ref.ID), ks.index()}
	if c.Record.UserID != "" {
		keys = append(keys, ks.user(c.Record.UserID))
	}
	return keys
}

// createResult reads create.lua's reply.
func (r reply) createResult() sessions.CreateResult {
	return sessions.CreateResult{Status: r.status, Evicted: r.ids}
}

// Verify implements sessions.Store with verify.lua: one round trip.
func (s *Store) Verify(ctx context.Context, c sessions.VerifyCall) (sessions.VerifyResult, error) {
	rep, err := s.run(ctx, verifyScript, s.verifyKeys(c), verifyArgs(c))
	if err != nil {
		return sessions.VerifyResult{}, err
	}
	return rep.verifyResult()
}

// VerifyBatch implements sessions.Store with verify.lua per call, in one
// pipeline (runEach).
func (s *Store) VerifyBatch(ctx context.Context, cs []sessions.VerifyCall) ([]sessions.VerifyResult, error) {
	return runEach(ctx, s, verifyScript, cs, s.verifyKeys, verifyArgs, reply.verifyResult)
}

// runEach runs sc once for each of cs, with its keys and args, in one
// pipeline (runAll), and reads each reply with read.
func runEach[C, R any](ctx context.Context, s *Store, sc script, cs []C, keys func(C) []string, args func(C) []arg, read func(reply) (R, error)) ([]R, error) {
	calls := make([]call, len(cs))
	for i, c := range cs {
		calls[i] = call{keys: keys(c), args: values(args(c))}
	}
	reps, err := s.runAll(ctx, sc, calls)
	if err != nil {
		return nil, err
	}
	out := make([]R, len(reps))
	for i, rep := range reps {
		if out[i], err = read(rep); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// verifyKeys are verify.lua's keys: the session and its bucket's index.
func (s *Store) verifyKeys(c sessions.VerifyCall) []string {
	ks := s.keys(c.Ref.TenantID, c.Ref.Bucket)
	return []string{ks.session(c.Ref.ID), ks.index()}
}

// verifyResult reads verify.lua's reply.
func (r reply) verifyResult() (sessions.VerifyResult, error) {
	res := sessions.VerifyResult{Status: r.status, UserID: r.uid, Actor: r.actor, Mismatched: r.ids}
	var err error
	if r.status == sessions.StatusOK || r.status == sessions.StatusStepUp {
		res.Record, err = r.record()
	}
	return res, err
}

// Regenerate implements sessions.Store with regenerate.lua: one round trip.
func (s *Store) Regenerate(ctx context.Context, c sessions.RegenerateCall) (sessions.RegenerateResult, error) {
	ks := s.keys(c.Old.TenantID, c.Old.Bucket)
	keys := []string{ks.session(c.Old.ID), ks.session(c.New.ID), ks.index()}
	if c.UserID != "" {
		keys = append(keys, ks.user(c.UserID))
	}
	rep, err := s.run(ctx, regenerateScript, keys, regenerateArgs(c))
	if err != nil {
		return sessions.RegenerateResult{}, err
	}
	res := sessions.RegenerateResult{Status: rep.status, UserID: rep.uid, Actor: rep.actor, Evicted: rep.ids}
	if rep.status == sessions.StatusOK {
		res.Record, err = rep.record()
	}
	return res, err
}

// Claim implements sessions.Store with claim.lua.
func (s *Store) Claim(ctx context.Context, c sessions.ClaimCall) (sessions.ClaimResult, error) {
	ks := s.keys(c.Ref.TenantID, c.Ref.Bucket)
	rep, err := s.run(ctx, claimScript, []string{ks.session(c.Ref.ID), ks.index()}, claimArgs(c))
	if err != nil {
		return sessions.ClaimResult{}, err
	}
	res := sessions.ClaimResult{Status: rep.status, UserID: rep.uid, Actor: rep.actor}
	if rep.status == sessions.StatusOK {
		res.Record, err = rep.record()
	}
	return res, err
}

// Get implements sessions.Store with get.lua (the session, unless a pending
// revocation ended it): one round trip. A key that does not hold a session
// of this layout (one written by an older sessiond) is no session.
func (s *Store) Get(ctx context.Context, ref sessions.Ref) (sessions.Record, bool, error) {
	rep, err := s.run(ctx, getScript, []string{s.keys(ref.TenantID, ref.Bucket).session(ref.ID)}, getArgs(ref))
	if err != nil || rep.status != sessions.StatusOK {
		return sessions.Record{}, false, err
	}
	rec, err := rep.record()
	return rec, err == nil, err
}

// Patch implements sessions.Store with patch.lua.
func (s *Store) Patch(ctx context.Context, c sessions.PatchCall) (sessions.PatchResult, error) {
	key := s.keys(c.Ref.TenantID, c.Ref.Bucket).session(c.Ref.ID)
	rep, err := s.run(ctx, patchScript, []string{key}, patchArgs(c))
	if err != nil {
		return sessions.PatchResult{}, err
	}
	res := sessions.PatchResult{Status: rep.status}
	if rep.status == sessions.StatusOK {
		res.Record, err = rep.record()
	}
	return res, err
}

// Revoke implements sessions.Store with revoke.lua.
func (s *Store) Revoke(ctx context.Context, ref sessions.Ref) (sessions.RevokeResult, error) {
	ks := s.keys(ref.TenantID, ref.Bucket)
	rep, err := s.run(ctx, revokeScript, []string{ks.session(ref.ID), ks.index()}, revokeArgs(ref))
	if err != nil {
		return sessions.RevokeResult{}, err
	}
	return sessions.RevokeResult{Status: rep.status, UserID: rep.uid, Actor: rep.actor}, nil
}

// RevokeUser implements sessions.Store with revoke_user.lua: one round
// trip, which writes the user's revocation marker when more sessions are
// left than it deletes itself.
func (s *Store) RevokeUser(ctx context.Context, c sessions.RevokeUserCall) (sessions.RevokeUserResult, error) {
	ks := s.keys(c.TenantID, c.Bucket)
	rep, err := s.run(ctx, revokeUserScript, []string{ks.user(c.UserID), ks.index()}, revokeUserArgs(c))
	if err != nil {
		return sessions.RevokeUserResult{}, err
	}
	return sessions.RevokeUserResult{Status: rep.status, Revoked: rep.ids, Left: rep.n}, nil
}

// RevokeActing implements sessions.Store with revoke_acting.lua, a chunk
// per call.
func (s *Store) RevokeActing(ctx context.Context, c sessions.RevokeActingCall) ([]sessions.Acting, error) {
	ks := s.keys(c.TenantID, c.Bucket)
	var out []sessions.Acting
	// Each call ends a bounded chunk (every entry it reads leaves the set),
	// so this ends; a user normally needs one.
	for {
		rep, err := s.run(ctx, revokeActScript, []string{ks.acting(c.UserID), ks.index()}, revokeActingArgs(c))
		if err != nil {
			return out, err
		}
		for _, e := range rep.ids {
			var a sessions.Acting
			a.ID, a.Actor, _ = strings.Cut(e, " ")
			out = append(out, a)
		}
		if rep.n == 0 {
			return out, nil
		}
	}
}

// RevokeUserChunk implements sessions.Store with revoke_more.lua.
func (s *Store) RevokeUserChunk(ctx context.Context, c sessions.RevokeChunkCall) (sessions.RevokeChunkResult, error) {
	ks := s.keys(c.TenantID, c.Bucket)
	rep, err := s.run(ctx, revokeMoreScript, []string{ks.user(c.UserID), ks.index()}, revokeMoreArgs(c))
	if err != nil {
		return sessions.RevokeChunkResult{}, err
	}
	return sessions.RevokeChunkResult{Status: rep.status, Deleted: rep.n}, nil
}
