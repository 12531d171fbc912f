-- Background tasks become resumable work: the application and parameters
-- they work on, their progress (the last message examined, counts) and why
-- they failed. Tasks recorded before this ran synchronously and are done.
ALTER TABLE tasks ADD COLUMN app_id TEXT;
ALTER TABLE tasks ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tasks ADD COLUMN cursor TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN scanned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET created_at = updated_at, status = 'finished';
CREATE INDEX tasks_running ON tasks (id) WHERE status = 'running';
CREATE INDEX tasks_app ON tasks (app_id, id);
