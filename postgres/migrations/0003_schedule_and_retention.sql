-- Scheduled delivery and retention.
-- deliver_at is the message's deliverAt (NULL: not set). payload_expires_at
-- is when the retention cleaner expunges its payload: existing messages get
-- payload_retention_days days after their creation.
ALTER TABLE messages ADD COLUMN deliver_at timestamptz;
ALTER TABLE messages ADD COLUMN payload_expires_at timestamptz;
UPDATE messages SET payload_expires_at = created_at + make_interval(days => payload_retention_days);
ALTER TABLE messages ALTER COLUMN payload_expires_at SET NOT NULL;
-- Payloads still held, by expiry: what the cleaner reads. An expunged
-- payload leaves the index.
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at, id) WHERE payload IS NOT NULL;
-- Attempts whose response body is still held, by ID (IDs sort by creation
-- time): what the response cleaner reads. Row deletion uses the primary key.
CREATE INDEX attempts_response_held ON attempts (id) WHERE response <> '';
