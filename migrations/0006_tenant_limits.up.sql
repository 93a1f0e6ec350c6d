-- The operator's ceilings per tenant: a JSON object of the ceilings set for
-- this tenant ({"requests_per_second": 50}); a ceiling left out follows the
-- deployment default (the SESSIOND_CEILING_* variables), so existing
-- tenants start with every default.
ALTER TABLE tenants ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(limits) = 'object');
