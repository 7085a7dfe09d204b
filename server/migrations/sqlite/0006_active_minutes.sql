-- Session-minutes with activity: a Physics frame from the page in a wall-clock minute, counted
-- once per minute (the denominator of "share of session-minutes interrupted").
ALTER TABLE sessions ADD COLUMN active_minutes BIGINT NOT NULL DEFAULT 0;
