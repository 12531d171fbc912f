-- Herald schema for PostgreSQL, version 1.
-- Times are timestamptz (microseconds; NULL for "not set"), lists of names
-- text[], maps and secrets jsonb (NULL for nil), payloads bytea kept byte
-- for byte. Keys and aliases use the "C" collation, so that they compare
-- byte by byte: IDs sort in creation order and cursors match the SQLite
-- store whatever the database's locale.

CREATE TABLE applications (
    id            text COLLATE "C" PRIMARY KEY,
    uid           text COLLATE "C",
    name          text NOT NULL,
    throttle_rate integer,
    metadata      jsonb,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX applications_uid ON applications (uid) WHERE uid IS NOT NULL;

CREATE TABLE endpoints (
    id            text COLLATE "C" PRIMARY KEY,
    app_id        text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid           text COLLATE "C",
    url           text NOT NULL,
    description   text NOT NULL,
    event_types   text[],
    channels      text[],
    disabled      boolean NOT NULL,
    throttle_rate integer,
    metadata      jsonb,
    headers       jsonb,
    secrets       jsonb,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX endpoints_app ON endpoints (app_id, id);
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;

CREATE TABLE event_types (
    name         text COLLATE "C" PRIMARY KEY,
    description  text NOT NULL,
    archived     boolean NOT NULL,
    deprecated   boolean NOT NULL,
    feature_flag text NOT NULL,
    schemas      jsonb,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE messages (
    id                     text COLLATE "C" PRIMARY KEY,
    app_id                 text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_id               text COLLATE "C",
    event_type             text NOT NULL,
    channels               text[],
    payload                bytea,
    payload_retention_days integer NOT NULL,
    created_at             timestamptz NOT NULL
);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE UNIQUE INDEX messages_app_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

-- deliveries is the queue: one row per (message, endpoint), written in the
-- message's transaction. Deleting the message or the endpoint deletes the
-- row. Status numbers are herald.MessageStatus (1 pending, 3 sending).
CREATE TABLE deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    app_id          text COLLATE "C" NOT NULL,
    msg_id          text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id     text COLLATE "C" NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    status          smallint NOT NULL,
    attempts        integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    trigger_type    smallint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX deliveries_msg_endpoint ON deliveries (msg_id, endpoint_id);
CREATE INDEX deliveries_endpoint_msg ON deliveries (endpoint_id, msg_id);
-- Due deliveries, oldest first: what claims read.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 1;
-- Pending deliveries by endpoint, for claims that must look past a large
-- backlog of excluded or saturated endpoints.
CREATE INDEX deliveries_pending_endpoint ON deliveries (endpoint_id, next_attempt_at, id) WHERE status = 1;
-- Leased deliveries by lease end, for rescue.
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 3;

-- attempts is history: it stays when the endpoint is deleted and goes with
-- the application.
CREATE TABLE attempts (
    id                   text COLLATE "C" PRIMARY KEY,
    delivery_id          text COLLATE "C" NOT NULL,
    app_id               text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    msg_id               text COLLATE "C" NOT NULL,
    endpoint_id          text COLLATE "C" NOT NULL,
    url                  text NOT NULL,
    status               smallint NOT NULL,
    response_status_code integer NOT NULL,
    response             text NOT NULL,
    response_duration_ms bigint NOT NULL,
    trigger_type         smallint NOT NULL,
    created_at           timestamptz NOT NULL
);
CREATE INDEX attempts_app_msg ON attempts (app_id, msg_id, id);
CREATE INDEX attempts_app_endpoint ON attempts (app_id, endpoint_id, id);

CREATE TABLE tokens (
    id         text COLLATE "C" PRIMARY KEY,
    hash       text COLLATE "C" NOT NULL UNIQUE,
    app_id     text COLLATE "C" REFERENCES applications (id) ON DELETE CASCADE,
    expires_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX tokens_app ON tokens (app_id);

CREATE TABLE idempotency (
    key         text COLLATE "C" PRIMARY KEY,
    status_code integer NOT NULL,
    body        bytea,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);

CREATE TABLE tasks (
    id         text COLLATE "C" PRIMARY KEY,
    kind       text NOT NULL,
    status     text NOT NULL,
    updated_at timestamptz NOT NULL
);
