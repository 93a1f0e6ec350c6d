DROP INDEX IF EXISTS webhook_deliveries_finished;
