-- Herald schema, version 1.
-- Times are INTEGER Unix nanoseconds (UTC; 0 for "not set"), lists and maps
-- are JSON TEXT (NULL for "not set"), payloads are BLOBs.

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    uid           TEXT,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX applications_uid ON applications (uid) WHERE uid IS NOT NULL;

CREATE TABLE endpoints (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    event_types   TEXT,
    channels      TEXT,
    disabled      INTEGER NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT,
    headers       TEXT,
    secrets       TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX endpoints_app ON endpoints (app_id, id);
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    archived     INTEGER NOT NULL,
    deprecated   INTEGER NOT NULL,
    feature_flag TEXT NOT NULL,
    schemas      TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE messages (
    id                     TEXT PRIMARY KEY,
    app_id                 TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_id               TEXT,
    event_type             TEXT NOT NULL,
    channels               TEXT,
    payload                BLOB,
    payload_retention_days INTEGER NOT NULL,
    created_at             INTEGER NOT NULL
);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE UNIQUE INDEX messages_app_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

-- deliveries is the queue: one row per (message, endpoint). Deleting the
-- message or the endpoint deletes the row.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
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
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at, id);
CREATE UNIQUE INDEX deliveries_msg_endpoint ON deliveries (msg_id, endpoint_id);
CREATE INDEX deliveries_endpoint_msg ON deliveries (endpoint_id, msg_id);

-- attempts is history: it stays when the endpoint is deleted and goes with
-- the application.
CREATE TABLE attempts (
    id                   TEXT PRIMARY KEY,
    delivery_id          TEXT NOT NULL,
    app_id               TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    msg_id               TEXT NOT NULL,
    endpoint_id          TEXT NOT NULL,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX attempts_app_msg ON attempts (app_id, msg_id, id);
CREATE INDEX attempts_app_endpoint ON attempts (app_id, endpoint_id, id);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    app_id     TEXT REFERENCES applications (id) ON DELETE CASCADE,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX tokens_app ON tokens (app_id);

CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    status_code INTEGER NOT NULL,
    body        BLOB,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);

CREATE TABLE tasks (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
