-- Security events get an opaque, random id (eid, 16 bytes) instead of
-- showing the global bigint sequence, which told every tenant the whole
-- deployment's event volume. The bigint id stays, internal only (insert
-- order, pruning). eid is unique, so writing an event twice (a retried
-- batch, a spool drained by two instances) stores it once. Existing rows
-- get a random eid; rows inserted without one (an older binary during a
-- rolling upgrade) get one by default.
--
-- Listings are newest first by (time, id), with an index per filter shape;
-- a listing's cursor names its last event by eid and time, never by id.
--
-- The operator's IP and user agent are no longer stored on events whose
-- actor is the operator (tenants read these events); existing rows lose
-- them here. The down migration cannot bring them back.
BEGIN;

ALTER TABLE events ADD COLUMN eid uuid;
UPDATE events SET eid = gen_random_uuid();
ALTER TABLE events ALTER COLUMN eid SET DEFAULT gen_random_uuid(), ALTER COLUMN eid SET NOT NULL;
ALTER TABLE events ADD CONSTRAINT events_eid UNIQUE (eid);

UPDATE events SET ip = NULL, user_agent = NULL WHERE actor = 'operator' AND (ip IS NOT NULL OR user_agent IS NOT NULL);

DROP INDEX IF EXISTS events_tenant;
DROP INDEX IF EXISTS events_tenant_type;
DROP INDEX IF EXISTS events_tenant_user;
DROP INDEX IF EXISTS events_tenant_time;
CREATE INDEX events_tenant_time_id ON events (tenant_id, time, id);
CREATE INDEX events_tenant_type_time_id ON events (tenant_id, type, time, id);
CREATE INDEX events_tenant_user_time_id ON events (tenant_id, user_id, time, id) WHERE user_id IS NOT NULL;

COMMIT;
