package tenants

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Session purges. Suspending or deleting a tenant stores, in the same
// transaction as the status change, a purge job for it (Store.UpdateTenant,
// Store.DeleteTenant). A PurgeWorker in every instance claims pending jobs,
// ends the tenant's sessions a batch of buckets at a time through a
// SessionPurger, records its progress after each batch and retries with
// backoff until the job is done. Nothing of it runs on a request's context,
// so a client that gives up, a Redis outage or an instance that dies never
// leaves sessions behind: the job stays pending, and another instance takes
// over once the claim's lease has ended. Resuming a tenant whose purge is
// not done is refused (fault.Conflict).

// PurgeReason says why a tenant's sessions are purged.
type PurgeReason string

const (
	// PurgeSuspend purges a suspended tenant's sessions.
	PurgeSuspend PurgeReason = "suspend"
	// PurgeDelete purges a deleted tenant's sessions.
	PurgeDelete PurgeReason = "delete"
)

// PurgeJob is the durable record of one tenant's session purge. NextBucket
// is the first bucket not yet purged; DoneAt is set once every bucket is.
type PurgeJob struct {
	TenantID    string
	Reason      PurgeReason
	RequestedAt time.Time
	NextBucket  int
	Attempts    int
	LastError   string
	DoneAt      *time.Time
}

// PurgeStatus is what the operator API shows of a tenant's latest purge:
// state "pending" until every bucket is purged, then "done".
type PurgeStatus struct {
	State       string      `json:"state"`
	Reason      PurgeReason `json:"reason"`
	RequestedAt time.Time   `json:"requested_at"`
	NextBucket  int         `json:"next_bucket"`
	Attempts    int         `json:"attempts"`
	DoneAt      *time.Time  `json:"done_at,omitempty"`
}

// Status returns the operator's view of the job.
func (j PurgeJob) Status() PurgeStatus {
	st := PurgeStatus{State: "pending", Reason: j.Reason, RequestedAt: j.RequestedAt.UTC(), NextBucket: j.NextBucket, Attempts: j.Attempts}
	if j.DoneAt != nil {
		at := j.DoneAt.UTC()
		st.State, st.DoneAt = "done", &at
	}
	return st
}

// PurgeStore keeps the purge jobs. A claim is a random string naming one
// worker's hold on one job; every method but PurgeJob acts only while that
// claim is the job's current one and returns fault.Conflict otherwise (the
// lease ended and another worker claimed the job, or the tenant was
// suspended or deleted again, which restarts its job). Every method returns
// fault.Unavailable when the database cannot be reached.
type PurgeStore interface {
	// ClaimPurge claims the oldest pending job that nobody holds and whose
	// backoff has ended (at now), for lease, skipping jobs another worker is
	// claiming at the same moment. ok is false when there is none.
	ClaimPurge(ctx context.Context, claim string, now time.Time, lease time.Duration) (job PurgeJob, ok bool, err error)
	// PurgeProgress records that every bucket before next is purged and
	// extends the lease to now+lease.
	PurgeProgress(ctx context.Context, tenantID, claim string, next int, now time.Time, lease time.Duration) error
	// PurgeDone marks the job done at now and releases it.
	PurgeDone(ctx context.Context, tenantID, claim string, now time.Time) error
	// PurgeFailed counts a failed attempt, keeps its error and releases the
	// job until retryAt.
	PurgeFailed(ctx context.Context, tenantID, claim, lastError string, retryAt time.Time) error
	// PurgeJob returns the tenant's latest purge job (fault.NotFound if it
	// never had one).
	PurgeJob(ctx context.Context, tenantID string) (PurgeJob, error)
}

// SessionPurger ends a tenant's sessions (sessions.Manager). It must touch
// only that tenant's namespace.
type SessionPurger interface {
	// PurgeTenant purges the tenant's sessions in every bucket from `from`
	// on, a batch of buckets at a time, calling progress with the next
	// bucket to purge after each batch. It returns nil once every bucket is
	// purged, or the first error of the store or of progress.
	PurgeTenant(ctx context.Context, tenantID string, from int, progress func(next int) error) error
}

// Default purge worker settings.
const (
	// DefaultPurgePoll is how often a worker looks for jobs it was not told
	// about (jobs of other instances, retries after backoff).
	DefaultPurgePoll = 2 * time.Second
	// DefaultPurgeLease is how long a claim lasts without progress before
	// another worker may take the job over.
	DefaultPurgeLease = time.Minute
	// maxPurgeBackoff caps the wait between two failed attempts.
	maxPurgeBackoff = time.Minute
	// maxPurgeError bounds the stored error text.
	maxPurgeError = 500
)

// PurgeWorker runs the purge jobs of every instance; each instance runs one
// (Run). Its zero durations take the defaults. It logs each job's start,
// every failed attempt and the completion.
type PurgeWorker struct {
	Store  PurgeStore
	Purger SessionPurger
	Log    *slog.Logger
	Now    func() time.Time
	Poll   time.Duration
	Lease  time.Duration

	wake chan struct{}
}

// NewPurgeWorker returns a worker with the default poll and lease.
func NewPurgeWorker(store PurgeStore, purger SessionPurger, log *slog.Logger, now func() time.Time) *PurgeWorker {
	if now == nil {
		now = time.Now
	}
	return &PurgeWorker{Store: store, Purger: purger, Log: log, Now: now,
		Poll: DefaultPurgePoll, Lease: DefaultPurgeLease, wake: make(chan struct{}, 1)}
}

// Wake makes the worker look for jobs now (after this instance stored one)
// rather than at its next poll. It never blocks.
func (w *PurgeWorker) Wake() {
	if w == nil || w.wake == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run works through the claimable jobs, then waits for Wake or the next
// poll, until ctx ends. A job it holds when ctx ends is left as it is: its
// lease runs out and a worker (of this or another instance) takes it over
// from its last recorded bucket.
func (w *PurgeWorker) Run(ctx context.Context) {
	poll := w.Poll
	if poll <= 0 {
		poll = DefaultPurgePoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	failing := false
	for {
		err := w.Drain(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			w.Log.Warn("session purge: cannot read the purge jobs; will retry", slog.String("error", err.Error()))
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Drain claims and runs jobs until none is claimable, ctx ends or the job
// store fails (that error is returned). A failed purge attempt is not an
// error of Drain: it is recorded on the job, which is retried after its
// backoff.
func (w *PurgeWorker) Drain(ctx context.Context) error {
	for ctx.Err() == nil {
		claim := secrets.NewID("pc_")
		job, ok, err := w.Store.ClaimPurge(ctx, claim, w.Now(), w.lease())
		if err != nil || !ok {
			return err
		}
		w.run(ctx, job, claim)
	}
	return nil
}

// run makes one attempt at job under claim.
func (w *PurgeWorker) run(ctx context.Context, job PurgeJob, claim string) {
	log := w.Log.With(slog.String("tenant_id", job.TenantID), slog.String("reason", string(job.Reason)))
	log.Info("session purge: started", slog.Int("next_bucket", job.NextBucket), slog.Int("attempt", job.Attempts+1))
	err := w.Purger.PurgeTenant(ctx, job.TenantID, job.NextBucket, func(next int) error {
		job.NextBucket = next
		return w.Store.PurgeProgress(ctx, job.TenantID, claim, next, w.Now(), w.lease())
	})
	if ctx.Err() != nil {
		log.Info("session purge: stopped with the instance; another worker resumes it when the lease ends", slog.Int("next_bucket", job.NextBucket))
		return
	}
	if err == nil {
		if err = w.Store.PurgeDone(ctx, job.TenantID, claim, w.Now()); err == nil {
			log.Info("session purge: completed", slog.Int("attempts", job.Attempts+1))
			return
		}
	}
	if fault.Is(err, fault.Conflict) {
		log.Info("session purge: claim taken over (lease ended, or the job restarted); leaving it", slog.Int("next_bucket", job.NextBucket))
		return
	}
	wait := purgeBackoff(job.Attempts + 1)
	log.Warn("session purge: attempt failed; will retry", slog.Int("next_bucket", job.NextBucket),
		slog.Int("attempt", job.Attempts+1), slog.Duration("retry_in", wait), slog.String("error", err.Error()))
	if ferr := w.Store.PurgeFailed(ctx, job.TenantID, claim, clip(err.Error()), w.Now().Add(wait)); ferr != nil && !fault.Is(ferr, fault.Conflict) {
		log.Warn("session purge: could not record the failed attempt; the lease will expire", slog.String("error", ferr.Error()))
	}
}

func (w *PurgeWorker) lease() time.Duration {
	if w.Lease <= 0 {
		return DefaultPurgeLease
	}
	return w.Lease
}

// purgeBackoff is the wait after the n-th failed attempt: 2 s, 4 s, ...,
// at most maxPurgeBackoff.
func purgeBackoff(n int) time.Duration {
	d := time.Second << min(max(n, 1), 6)
	return min(d, maxPurgeBackoff)
}

// clip bounds an error text for storage, as valid UTF-8 without NUL.
func clip(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "?")
	if len(s) <= maxPurgeError {
		return s
	}
	s = s[:maxPurgeError]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
