-- Admin tokens get a name and the first characters of their secret, so
-- that they can be listed and told apart without showing the secret.
ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
-- An app-portal token asked for with readOnly may only read.
ALTER TABLE tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
