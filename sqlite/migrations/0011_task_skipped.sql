-- Background tasks count the messages they would have sent but could not
-- because the message's payload was expunged.
ALTER TABLE tasks ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
