BEGIN;

DROP INDEX IF EXISTS events_tenant_time_id;
DROP INDEX IF EXISTS events_tenant_type_time_id;
DROP INDEX IF EXISTS events_tenant_user_time_id;
CREATE INDEX events_tenant ON events (tenant_id, id DESC);
CREATE INDEX events_tenant_type ON events (tenant_id, type, id DESC);
CREATE INDEX events_tenant_user ON events (tenant_id, user_id, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX events_tenant_time ON events (tenant_id, time);
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_eid;
ALTER TABLE events DROP COLUMN IF EXISTS eid;

COMMIT;
