-- sessiond's initial schema: tenants and what they own, security events, and
-- tenant admins. No column holds a plaintext secret: signing secrets are
-- sealed (AES-256-GCM under the master key), API key secrets are SHA-256
-- hashes, admin passwords are argon2id hashes.
--
-- Tables are created unqualified, so they land in the first schema of the
-- connection's search_path (tests give each test its own schema).

BEGIN;

CREATE TABLE tenants (
    id         text        PRIMARY KEY,
    -- seq orders tenants by creation for stable paging; it is not an id.
    seq        bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    name       text        NOT NULL,
    status     text        NOT NULL CHECK (status IN ('active', 'suspended')),
    policy     jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
    tenant_id     text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid           text        NOT NULL,
    -- seq orders a keyring newest first even when two keys share created_at.
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    state         text        NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    sealed_secret bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    retires_at    timestamptz NULL,
    retired_at    timestamptz NULL,
    PRIMARY KEY (tenant_id, kid),
    CHECK (state <> 'retiring' OR retires_at IS NOT NULL),
    CHECK (state <> 'retired' OR retired_at IS NOT NULL)
);

-- At most one active key per tenant, whatever the application does.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (tenant_id) WHERE state = 'active';

CREATE TABLE api_keys (
    id          text        PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    name        text        NOT NULL,
    scopes      text[]      NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['sessions', 'admin']),
    -- prefix is the first characters of the secret ("sk_" + 8), for display.
    prefix      text        NOT NULL,
    secret_hash bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz NULL
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, seq DESC);

-- events.tenant_id is deliberately not a foreign key: the security log of a
-- deleted tenant is kept.
CREATE TABLE events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text        NOT NULL,
    type       text        NOT NULL,
    time       timestamptz NOT NULL,
    user_id    text        NULL,
    session_id text        NULL,
    ip         text        NULL,
    user_agent text        NULL,
    actor      text        NULL,
    detail     jsonb       NULL
);

CREATE INDEX events_tenant ON events (tenant_id, id DESC);
CREATE INDEX events_tenant_type ON events (tenant_id, type, id DESC);
CREATE INDEX events_tenant_user ON events (tenant_id, user_id, id DESC) WHERE user_id IS NOT NULL;

-- Tenant admins (admin UI users). Emails are unique per tenant, ignoring case.
CREATE TABLE admins (
    id            text        PRIMARY KEY,
    tenant_id     text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX admins_tenant_email ON admins (tenant_id, lower(email));

COMMIT;
