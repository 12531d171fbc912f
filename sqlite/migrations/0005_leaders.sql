-- leaders holds one row per elected role (maintenance): which process
-- leads it and until when. The embedded store has one process, which
-- always wins, but it runs the same election as the PostgreSQL store.
CREATE TABLE leaders (
	name       TEXT PRIMARY KEY,
	node       TEXT NOT NULL,
	elected_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
