-- Webhooks: a tenant's endpoints, and the outbox of deliveries (one row per
-- event and endpoint), written in the same statement as the event (see
-- postgres.Store.WriteEvents). Secrets are sealed (AES-256-GCM under the
-- master key, bound to the endpoint id), never stored in plaintext.
BEGIN;

CREATE TABLE webhook_endpoints (
    id                     text        PRIMARY KEY,
    tenant_id              text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq                    bigint      GENERATED ALWAYS AS IDENTITY,
    url                    text        NOT NULL,
    description            text        NOT NULL DEFAULT '',
    -- Empty: every event type.
    event_types            text[]      NOT NULL DEFAULT '{}',
    status                 text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'failing')),
    failing_since          timestamptz NULL,
    sealed_secret          bytea       NOT NULL,
    -- The secret before the last rotation signs too until previous_until.
    sealed_previous        bytea       NULL,
    previous_until         timestamptz NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);

CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, seq);

-- The outbox. A pending delivery is due at next_attempt_at; a claim moves
-- next_attempt_at to the end of its lease, so a delivery whose instance
-- died is due again once the lease ends. Times are the application's clock.
CREATE TABLE webhook_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    tenant_id       text        NOT NULL,
    -- The webhook-id header: the event's id, the same on every attempt.
    msg_id          text        NOT NULL,
    event_type      text        NOT NULL,
    payload         bytea       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    claim           text        NULL,
    last_status     integer     NULL,
    last_error      text        NULL,
    last_latency_ms integer     NULL,
    delivered_at    timestamptz NULL,
    -- An event is enqueued once per endpoint, however often it is stored.
    UNIQUE (endpoint_id, msg_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (endpoint_id, id DESC);

COMMIT;
