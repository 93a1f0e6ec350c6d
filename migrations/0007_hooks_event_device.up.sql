-- Events name the end user's device (as the app passed it: device.ip,
-- device.user_agent, device.label) apart from the caller, whose IP and user
-- agent stay in ip and user_agent. Older rows have no device: the columns
-- are nullable and nothing is backfilled.
ALTER TABLE events
    ADD COLUMN device_ip         text NULL,
    ADD COLUMN device_user_agent text NULL,
    ADD COLUMN device_label      text NULL;
