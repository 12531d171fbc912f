-- Pending deliveries by endpoint, for claims that must look past a large
-- backlog of excluded or saturated endpoints (see pickDueByEndpoint).
CREATE INDEX deliveries_pending_endpoint ON deliveries (endpoint_id, next_attempt_at, id) WHERE status = 1;
