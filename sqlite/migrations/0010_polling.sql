-- Polling: every message gets seq, its place in its application's stream,
-- given by the single writer when the message commits (one more than the
-- application's highest), so that the stream's order, (seq, id), is commit
-- order. Messages written before this migration keep seq 0 and are ordered
-- by ID among themselves.
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_app_seq ON messages (app_id, seq, id);

-- poll_consumers keeps the position of each named reader of a sink (an
-- endpoint read by polling).
CREATE TABLE poll_consumers (
	endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
	consumer_id TEXT NOT NULL,
	app_id      TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	msg_id      TEXT NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (endpoint_id, consumer_id)
) WITHOUT ROWID;
