DROP INDEX IF EXISTS events_time;
