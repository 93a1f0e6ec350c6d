ALTER TABLE events
    DROP COLUMN IF EXISTS device_ip,
    DROP COLUMN IF EXISTS device_user_agent,
    DROP COLUMN IF EXISTS device_label;
