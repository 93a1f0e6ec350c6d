-- Retention: find events older than SESSIOND_EVENT_RETENTION quickly.
CREATE INDEX events_time ON events (time);
