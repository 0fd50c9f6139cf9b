-- Failed attempts slow their source down with growing delays (ferry-security's throttle): the time
-- of the last failure decides how long the next attempt waits.
ALTER TABLE attempt_failures ADD COLUMN last_failure BIGINT NOT NULL DEFAULT 0;
