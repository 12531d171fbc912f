-- Admin tokens get a name and the first characters of their secret, so
-- that they can be listed and told apart without showing the secret.
ALTER TABLE tokens ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN prefix text NOT NULL DEFAULT '';
-- An app-portal token asked for with readOnly may only read.
ALTER TABLE tokens ADD COLUMN read_only boolean NOT NULL DEFAULT false;
