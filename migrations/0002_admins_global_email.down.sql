BEGIN;

DROP INDEX IF EXISTS events_tenant_time;
DROP INDEX IF EXISTS admins_tenant;
DROP INDEX IF EXISTS admins_email;
CREATE UNIQUE INDEX admins_tenant_email ON admins (tenant_id, lower(email));

COMMIT;
