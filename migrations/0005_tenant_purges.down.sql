DROP TABLE IF EXISTS tenant_purges;
