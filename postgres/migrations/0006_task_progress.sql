-- Background tasks become resumable work: the application and parameters
-- they work on, their progress (the last message examined, counts) and why
-- they failed. Tasks recorded before this ran synchronously and are done.
ALTER TABLE tasks ADD COLUMN app_id text COLLATE "C";
ALTER TABLE tasks ADD COLUMN params jsonb NOT NULL DEFAULT '{}';
ALTER TABLE tasks ADD COLUMN cursor text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN scanned bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN queued bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN error text NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN created_at timestamptz;
UPDATE tasks SET created_at = updated_at, status = 'finished';
CREATE INDEX tasks_running ON tasks (id) WHERE status = 'running';
CREATE INDEX tasks_app ON tasks (app_id, id);
ALTER TABLE tasks ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN created_at SET NOT NULL;
