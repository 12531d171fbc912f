-- State that nodes sharing the database coordinate through.

-- leaders holds one row per elected role (maintenance): which node leads
-- it and until when.
CREATE TABLE leaders (
    name       text COLLATE "C" PRIMARY KEY,
    node       text NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- endpoint_owners gives each endpoint with deliveries in hand to one node
-- at a time, until the lease of the last deliveries it claimed ends (or it
-- releases the endpoint), so that the per-endpoint limits each node holds
-- in memory hold for all. No foreign key: a claim must not fail because
-- its endpoint was just deleted; expired rows are purged by lease rescue.
CREATE TABLE endpoint_owners (
    endpoint_id text COLLATE "C" PRIMARY KEY,
    node        text NOT NULL,
    until       timestamptz NOT NULL
);

-- claim_nodes records when each node last claimed (or looked for work),
-- so that claims can tell how many nodes share the work: a claim takes
-- only its share of the endpoints nobody owns.
CREATE TABLE claim_nodes (
    node    text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- endpoint_throttle paces a throttled endpoint's attempts across owners:
-- next_at is when the next attempt may start. Only the endpoint's owner
-- writes it.
CREATE TABLE endpoint_throttle (
    endpoint_id text COLLATE "C" PRIMARY KEY,
    next_at     timestamptz NOT NULL
);
