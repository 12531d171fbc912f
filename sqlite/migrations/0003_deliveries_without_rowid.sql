-- The delivery queue keyed by its id alone: a WITHOUT ROWID table keeps each
-- row in the primary-key tree, so an insert, claim or completion touches one
-- tree fewer than a rowid table with a separate primary-key index. Rows are
-- small, which is where WITHOUT ROWID pays.
CREATE TABLE deliveries_new (
    id              TEXT NOT NULL PRIMARY KEY,
    app_id          TEXT NOT NULL,
    msg_id          TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    status          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NOT NULL,
    trigger_type    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO deliveries_new SELECT id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at,
    lease_until, trigger_type, created_at, updated_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at, id);
CREATE UNIQUE INDEX deliveries_msg_endpoint ON deliveries (msg_id, endpoint_id);
CREATE INDEX deliveries_endpoint_msg ON deliveries (endpoint_id, msg_id);
CREATE INDEX deliveries_pending_endpoint ON deliveries (endpoint_id, next_attempt_at, id) WHERE status = 1;
