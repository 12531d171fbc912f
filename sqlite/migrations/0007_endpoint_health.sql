-- endpoint_health keeps each endpoint's recent outcomes (written with
-- every attempt result) and when and why it was disabled. Times are Unix
-- nanoseconds, 0 for "none".
CREATE TABLE endpoint_health (
	endpoint_id          TEXT PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
	app_id               TEXT NOT NULL,
	first_failure_at     INTEGER NOT NULL,
	last_failure_at      INTEGER NOT NULL,
	last_success_at      INTEGER NOT NULL,
	consecutive_failures INTEGER NOT NULL,
	disabled_at          INTEGER NOT NULL,
	disabled_reason      TEXT NOT NULL
) WITHOUT ROWID;
-- The auto-disable task reads the enabled endpoints that are failing.
CREATE INDEX endpoint_health_failing ON endpoint_health (first_failure_at)
	WHERE first_failure_at > 0 AND disabled_at = 0;
