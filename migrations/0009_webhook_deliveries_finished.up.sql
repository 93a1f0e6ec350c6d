-- Finished webhook deliveries are pruned with the events they carried
-- (SESSIOND_EVENT_RETENTION, postgres.Store.PruneEvents): found by age.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE state <> 'pending';
