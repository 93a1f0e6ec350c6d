-- Admin emails are unique across the whole deployment, ignoring case, so the
-- admin UI's login form needs only an email and a password (no tenant).
BEGIN;

DROP INDEX IF EXISTS admins_tenant_email;
CREATE UNIQUE INDEX admins_email ON admins (lower(email));
CREATE INDEX admins_tenant ON admins (tenant_id, created_at);
-- The dashboard's charts count a tenant's events per hour and type.
CREATE INDEX events_tenant_time ON events (tenant_id, time);

COMMIT;
