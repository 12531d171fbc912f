-- Polling: every message gets seq, the ID of the transaction that wrote it
-- (pg_current_xact_id, 64 bits, never wraps). Readers read only messages
-- whose transaction is older than every transaction still running (the
-- snapshot's xmin), in (seq, id) order: a transaction that commits later
-- always has a seq at least that xmin, so nothing is passed over. Messages
-- written before this migration (or imported) keep seq 0 and are ordered by
-- ID among themselves. See docs/adr (polling order).
ALTER TABLE messages ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE messages ALTER COLUMN seq SET DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX messages_app_seq ON messages (app_id, seq, id);

-- poll_consumers keeps the position of each named reader of a sink (an
-- endpoint read by polling).
CREATE TABLE poll_consumers (
    endpoint_id text COLLATE "C" NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    consumer_id text COLLATE "C" NOT NULL,
    app_id      text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    msg_id      text COLLATE "C" NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
);
