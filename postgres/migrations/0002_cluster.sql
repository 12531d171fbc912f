-- State that nodes sharing the database coordinate through.

-- leaders holds one row per elected role (maintenance): which node leads
-- it and until when.
CREATE TABLE leaders (
    name       text COLLATE "C" PRIMARY KEY,
    node       text NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- endpoint_throttle paces a throttled endpoint's attempts across every
-- node: next_at is when the next attempt may start.
CREATE TABLE endpoint_throttle (
    endpoint_id text COLLATE "C" PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    next_at     timestamptz NOT NULL
);

-- Sending deliveries by endpoint: claims count them to hold an endpoint's
-- in-flight bound across every node.
CREATE INDEX deliveries_sending_endpoint ON deliveries (endpoint_id) WHERE status = 3;
