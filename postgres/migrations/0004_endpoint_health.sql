-- endpoint_health keeps each endpoint's recent outcomes (written with
-- every attempt result) and when and why it was disabled (NULL: none).
CREATE TABLE endpoint_health (
	endpoint_id          text COLLATE "C" PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
	app_id               text COLLATE "C" NOT NULL,
	first_failure_at     timestamptz,
	last_failure_at      timestamptz,
	last_success_at      timestamptz,
	consecutive_failures integer NOT NULL,
	disabled_at          timestamptz,
	disabled_reason      text NOT NULL
);
-- The auto-disable task reads the enabled endpoints that are failing.
CREATE INDEX endpoint_health_failing ON endpoint_health (first_failure_at)
	WHERE first_failure_at IS NOT NULL AND disabled_at IS NULL;
