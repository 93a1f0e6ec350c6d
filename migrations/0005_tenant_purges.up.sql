-- Durable session purges: one job per tenant, written in the same transaction
-- as the suspension or deletion that needs it. Every instance's purge worker
-- claims pending jobs (a lease on the application's clock, so a job whose
-- instance died is taken over once its lease ends), purges a batch of Redis
-- buckets at a time, records its progress in next_bucket, and retries with
-- backoff until done_at is set.
--
-- tenant_id is deliberately not a foreign key: the job of a deleted tenant
-- outlives the tenant row.
CREATE TABLE tenant_purges (
    tenant_id    text        PRIMARY KEY,
    reason       text        NOT NULL CHECK (reason IN ('suspend', 'delete')),
    requested_at timestamptz NOT NULL,
    -- The first bucket not yet purged (1024 once every bucket is).
    next_bucket  integer     NOT NULL DEFAULT 0 CHECK (next_bucket >= 0),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NULL,
    -- claim names the worker's current claim (random per claim); a worker
    -- whose claim was replaced stops at its next progress report.
    claim        text        NULL,
    -- No worker claims the job before lease_until: a live claim's lease, or
    -- the end of a failed attempt's backoff.
    lease_until  timestamptz NULL,
    done_at      timestamptz NULL
);

CREATE INDEX tenant_purges_pending ON tenant_purges (requested_at) WHERE done_at IS NULL;
