package sessions

import (
	"context"

	"github.com/sessiond/sessiond/internal/tenants"
)

// Store keeps the sessions of every tenant (internal/sessions/redisstore on
// Redis). It decides nothing on its own: the Manager computes what the rules
// (rules.go) allow and passes their inputs, and a store applies them, each
// call atomically. Where a call must check a stored session and write in the
// same step (Verify, Regenerate, Claim, and the cap at Create), the store
// applies the rules itself and must give the results of the Go functions
// named in each call's documentation.
//
// Every method takes the context first. Outcomes that callers handle (a
// missing or expired session, a refused check, the cap, a version conflict)
// are a Status in the result, never an error; an error means the store
// failed: fault.Unavailable when it cannot be reached, fault.Internal when
// it answers something it should not.
//
// Sessions of one user share a bucket, and a store must be able to apply
// every call to one bucket atomically (on Redis: one hash tag, one slot).
// No call's work may grow with what one user or tenant holds: each does
// O(1) work plus at most a bounded chunk (docs/architecture.md, "Redis
// layout", states each bound).
//
// A session ended by a pending user revocation (RevokeUser, whose deletion
// RevokeUserChunk finishes) is, for every call, as if it had been revoked.
type Store interface {
	// Prepare makes the store ready to serve every call in one round trip
	// (on Redis: loads the scripts). Calling it is optional.
	Prepare(ctx context.Context) error

	// Create stores c.Record as c.Ref unless a session of that id exists
	// (StatusExists); for a user's session it applies c.Cap.Room to the
	// user's live sessions (under c.Timeouts): it evicts the oldest
	// (CreateResult.Evicted, each id in exactly one result) or refuses
	// (StatusLimit); an impersonated session (ProfileImpersonation) never
	// counts toward the cap nor is evicted for it: instead the user's
	// oldest impersonated sessions are evicted beyond MaxActing. Exact for a
	// user with up to 128 sessions on record;
	// beyond, it reads only the 128 oldest, so a dead session newer than
	// those may still count, and it evicts at most 128 per call. The session
	// is forgotten after its deadlines.
	Create(ctx context.Context, c CreateCall) (CreateResult, error)

	// CreateBatch is Create of each of calls, whose sessions may be in any
	// buckets, in one round trip (on Redis: one pipeline, which a Cluster
	// client sends to every master concurrently), applied in the calls'
	// order within a bucket: a call sees the sessions the calls before it
	// in the same bucket created or evicted, as a Create made after theirs
	// would. results[i] answers calls[i]. An error is the whole call's:
	// some calls may have been applied, and none is answered.
	CreateBatch(ctx context.Context, calls []CreateCall) ([]CreateResult, error)

	// Verify reads session c.Ref and, under Record.Effective(c.Timeouts),
	// answers StatusMissing (never issued, revoked, or forgotten),
	// StatusExpiredAbsolute or StatusExpiredIdle (Record.Expiry; an expired
	// session is deleted, and one the store already dropped is reported
	// expired once, within ExpiryGrace), StatusBinding (BindingMismatch
	// under enforce), StatusCSRF (c.CSRFMismatch), StatusReauth
	// (NeedsReauth) or StatusStepUp (not StepUpMet), in that order, writing
	// nothing then. Otherwise
	// (StatusOK) it records the use: last seen c.Now, the idle deadline slid
	// (Slide) when c.Rolling, the effective deadlines kept, c.KeyID when
	// set, and returns the record written; except when the record is
	// Fresh under c.Touch, its effective deadlines are those stored and
	// c.KeyID is unset or already its key: then it writes nothing and
	// returns the record as stored.
	Verify(ctx context.Context, c VerifyCall) (VerifyResult, error)

	// VerifyBatch is Verify of each of calls, whose sessions may be in any
	// buckets, in one round trip (on Redis: one pipeline, which a Cluster
	// client sends to every master concurrently): results[i] answers
	// calls[i]. An error is the whole call's: some calls may have been
	// applied, and none is answered.
	VerifyBatch(ctx context.Context, calls []VerifyCall) ([]VerifyResult, error)

	// Regenerate replaces session c.Old by c.New in the same bucket: under
	// Record.Effective(c.Timeouts), an expired session is deleted and
	// reported as at Verify; else c.Cap.Room applies to the new user's other
	// live sessions (StatusLimit leaves the old session intact); else the
	// old session is deleted and its Record.Renew stored as c.New, signed by
	// c.KeyID. Of concurrent calls for one old session, one gets StatusOK
	// and the others StatusMissing.
	Regenerate(ctx context.Context, c RegenerateCall) (RegenerateResult, error)

	// Claim deletes session c.Ref and returns it under
	// Record.Effective(c.Timeouts), to be stored again elsewhere (Create); an
	// expired or missing session is reported as at Verify. Of concurrent
	// claims of one session, exactly one gets StatusOK.
	Claim(ctx context.Context, c ClaimCall) (ClaimResult, error)

	// Get returns session ref as stored (Effective not applied), and false
	// when there is none (a session whose deadlines passed but that the
	// store has not dropped yet is returned: the caller checks Expiry).
	Get(ctx context.Context, ref Ref) (Record, bool, error)

	// Patch replaces the data of session c.Ref and increments its version,
	// if it is within its stored deadlines (else StatusMissing) and at
	// version c.Version (else StatusConflict); it returns the record
	// written. It does not touch the deadlines.
	Patch(ctx context.Context, c PatchCall) (PatchResult, error)

	// Revoke deletes session ref, whatever its deadlines, and every trace of
	// it (a revoked session is StatusMissing at once, never expired), or
	// answers StatusMissing when there is none.
	Revoke(ctx context.Context, ref Ref) (RevokeResult, error)

	// RevokeUser ends every session of c.UserID except c.Except, at once:
	// when it returns, none verifies, reads, lists, patches or regenerates
	// (sessions created later are not affected). It deletes and reads at most
	// c.Itemise of them itself, oldest first, and returns the ids of those
	// that were within their stored deadlines (Revoked); Left is how many
	// more the revocation covers (counted, not read: some may already have
	// ended), which stay ended and are deleted by RevokeUserChunk. With
	// c.Except set and not a live session of the user, it ends nothing and
	// answers StatusMissing.
	RevokeUser(ctx context.Context, c RevokeUserCall) (RevokeUserResult, error)

	// RevokeActing ends every impersonated session of c.UserID (at most a
	// small bound of them live: Create evicts the oldest beyond it) and
	// returns those that were live, with their actors. The user's own
	// sessions stay.
	RevokeActing(ctx context.Context, c RevokeActingCall) ([]Acting, error)

	// RevokeUserChunk deletes at most c.Max of the sessions a pending
	// revocation of c.UserID covers, and answers StatusOK once none is left
	// (then the revocation is complete), else StatusMore.
	RevokeUserChunk(ctx context.Context, c RevokeChunkCall) (RevokeChunkResult, error)

	// Count returns how many sessions of the tenant have an idle deadline
	// after now (the deadline as of their last use: a policy tightened since
	// applies once they are next used), without reading the sessions. It
	// includes sessions a pending revocation ended.
	Count(ctx context.Context, tenantID string, now int64) (int64, error)

	// IndexEntries returns up to need sessions of the tenant in listing
	// order (buckets in order; within one, by idle deadline, then id)
	// strictly after after (from the start of after.Bucket when after.ID is
	// ""), whose idle deadline is after now, with their idle deadlines as
	// Score; and the position to continue from (Bucket NumBuckets: the walk
	// is over). The sessions may since have ended. A session used during a
	// walk moves later in it, so a walk returns every session live for its
	// whole length at least once (a used one possibly twice), except one
	// whose deadline a tightened policy moved back.
	IndexEntries(ctx context.Context, tenantID string, after Position, need int, now int64) ([]Position, Position, error)

	// UserEntries returns up to need sessions of userID, whose bucket is
	// after.Bucket, in listing order (created_at as Score, then id),
	// strictly after after (from the first when after.ID is "").
	UserEntries(ctx context.Context, tenantID, userID string, after Position, need int) ([]Position, error)

	// Records reads the sessions at, in order: found[i] is false when at[i]
	// has no session (or a pending revocation ended it); an entry whose
	// session's key is gone it then forgets (in the user's index when userID
	// is set, else in the bucket index).
	Records(ctx context.Context, tenantID string, at []Position, userID string, now int64) (recs []Record, found []bool, err error)

	// PurgeBuckets deletes every session of the tenant in buckets
	// [first, first+n), with their indexes, a bounded chunk per bucket per
	// store command, repeated until the buckets are empty. It touches no
	// other tenant.
	PurgeBuckets(ctx context.Context, tenantID string, first Bucket, n int) error
}

// Status is the outcome of a Store call.
type Status string

// Store outcomes. The values are also the scripts' status words.
const (
	StatusOK              Status = "ok"
	StatusMissing         Status = "missing" // never issued, revoked, or forgotten
	StatusExpiredIdle     Status = "expired_idle"
	StatusExpiredAbsolute Status = "expired_absolute"
	StatusBinding         Status = "binding"
	StatusCSRF            Status = "csrf"
	StatusReauth          Status = "reauth"
	StatusStepUp          Status = "step_up"
	StatusLimit           Status = "limit"
	StatusConflict        Status = "conflict"
	StatusExists          Status = "exists"
	StatusMore            Status = "more" // a chunked call has more to do
)

// Ref names one session of a tenant: the bucket of its keys and its id.
type Ref struct {
	TenantID string
	Bucket   Bucket
	ID       string
}

// refOf returns the Ref of a valid session id.
func refOf(tenantID, id string) Ref {
	return Ref{TenantID: tenantID, Bucket: BucketOf(id), ID: id}
}

// Position is an entry of a listing: session ID in Bucket, with Score its
// index score (Unix ms): its idle deadline (tenant listing) or created_at
// (a user's listing).
type Position struct {
	Bucket Bucket
	Score  int64
	ID     string
}

// CreateCall is a Store.Create request.
type CreateCall struct {
	Ref      Ref
	Record   Record
	Cap      Cap      // applies when Record.UserID is set
	Timeouts Timeouts // the policy's, to tell the user's live sessions
	Now      int64
}

// CreateResult is Create's outcome: StatusOK, StatusLimit or StatusExists.
type CreateResult struct {
	Status  Status
	Evicted []string // oldest first; never nil when StatusOK
}

// VerifyCall is a Store.Verify request.
type VerifyCall struct {
	Ref      Ref
	Now      int64
	Timeouts Timeouts
	// Rolling slides the idle deadline on success.
	Rolling bool
	// CSRFMismatch: a CSRF token was presented and did not match (the
	// Manager compares it in constant time before the call).
	CSRFMismatch bool
	// MaxAuthAge is the re-authentication window in ms, or NoMaxAuthAge.
	MaxAuthAge int64
	// UserAgentMode and IPMode are the policy's binding modes; UserAgent and
	// IPBinding are what the device presents, compared with the record's.
	UserAgentMode, IPMode tenants.BindingMode
	UserAgent, IPBinding  string
	// KeyID, when set, is recorded as the key that signs the token now.
	KeyID string
	// Touch (ms) is the touch interval: a use within it of the last one
	// recorded is not written (Fresh). 0 writes every use.
	Touch int64
	// MinAAL and FactorAges ("method:ms,…", "" none) are the step-up
	// requirements (StepUpMet); MinAAL 1 requires nothing.
	MinAAL     int
	FactorAges string
}

// VerifyResult is Verify's outcome. UserID is the session's user (except
// for StatusMissing), Record the session written (StatusOK) or as read
// (StatusStepUp, to name what it lacks), Mismatched the
// attributes ("user_agent", "ip") that differed (StatusOK under report,
// StatusBinding).
type VerifyResult struct {
	Status Status
	UserID string
	Actor  string // an impersonated session's, when Record is not set

	Record     Record
	Mismatched []string
}

// RegenerateCall is a Store.Regenerate request: Old and New share a bucket.
type RegenerateCall struct {
	Old, New Ref
	UserID   string // the new user; "" keeps the old one
	SetAuth  bool
	// AddFactors are the methods proved now, "method:kind,…" (Renew).
	AddFactors string
	// Remember makes a login (a change of user) a remember-me session.
	Remember bool
	KeyID    string
	Timeouts Timeouts
	Cap      Cap
	Now      int64
}

// RegenerateResult is Regenerate's outcome: StatusOK with the new Record and
// the Evicted ids, StatusMissing, StatusExpiredIdle, StatusExpiredAbsolute
// or StatusLimit, with the old session's UserID.
type RegenerateResult struct {
	Status  Status
	UserID  string
	Actor   string // the old session's when impersonated and refused
	Record  Record
	Evicted []string
}

// ClaimCall is a Store.Claim request.
type ClaimCall struct {
	Ref      Ref
	Timeouts Timeouts
	Now      int64
}

// ClaimResult is Claim's outcome: StatusOK with the Record, StatusMissing,
// StatusExpiredIdle or StatusExpiredAbsolute with the session's UserID.
type ClaimResult struct {
	Status Status
	UserID string
	Actor  string // the session's when impersonated and refused
	Record Record
}

// PatchCall is a Store.Patch request.
type PatchCall struct {
	Ref     Ref
	Version int64
	Data    string
	Now     int64
}

// PatchResult is Patch's outcome: StatusOK with the Record written,
// StatusMissing or StatusConflict.
type PatchResult struct {
	Status Status
	Record Record
}

// RevokeResult is Revoke's outcome: StatusOK with the session's UserID, or
// StatusMissing.
type RevokeResult struct {
	Status Status
	UserID string
	Actor  string // the session's when it was impersonated
}

// RevokeUserCall is a Store.RevokeUser request.
type RevokeUserCall struct {
	TenantID string
	Bucket   Bucket // the user's
	UserID   string
	Except   string // "" for none
	Itemise  int    // at most this many sessions are read and returned
	Now      int64
}

// RevokeUserResult is RevokeUser's outcome: StatusOK with the Revoked ids
// (at most Itemise) and Left, the other sessions covered, whose deletion
// RevokeUserChunk finishes; or StatusMissing.
type RevokeUserResult struct {
	Status  Status
	Revoked []string
	Left    int64
}

// RevokeActingCall is a Store.RevokeActing request.
type RevokeActingCall struct {
	TenantID string
	Bucket   Bucket // the user's
	UserID   string
	Now      int64
}

// Acting is an impersonated session ended by RevokeActing: its id and its
// actor ("type:id").
type Acting struct{ ID, Actor string }

// RevokeChunkCall is a Store.RevokeUserChunk request.
type RevokeChunkCall struct {
	TenantID string
	Bucket   Bucket // the user's
	UserID   string
	Max      int // at most this many sessions deleted
}

// RevokeChunkResult is RevokeUserChunk's outcome: StatusMore or StatusOK
// (none left), with how many sessions it Deleted.
type RevokeChunkResult struct {
	Status  Status
	Deleted int64
}
