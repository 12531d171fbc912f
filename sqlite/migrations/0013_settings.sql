-- settings keeps values the database itself must carry, such as the
-- encryption key check value (herald.KeyCheckSetting): the encrypted form
-- of a known text, which tells at start-up whether the configured key is
-- the one the endpoint secrets were encrypted with.
CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
