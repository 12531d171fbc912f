-- The due index holds pending deliveries only, and a second partial index
-- holds the leased (sending) ones for lease rescue. Before, one index over
-- (status, next_attempt_at, id) kept an entry for every delivery ever made,
-- so it grew with history and every claim and completion moved an entry in
-- it; now finished deliveries leave both indexes and the queue's indexes
-- stay as small as the queue.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 1;
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 3;
