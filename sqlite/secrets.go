package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/herald-webhooks/herald"
)

// settingGet returns a stored setting.
func settingGet(ctx context.Context, q querier, name string) (value string, found bool, err error) {
	err = q.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&value)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return value, err == nil, err
}

// checkKey runs herald.CheckKey against the stored key check value,
// storing one when the database has none yet.
func (s *Store) checkKey(ctx context.Context) error {
	stored, found, err := settingGet(ctx, s.reader, herald.KeyCheckSetting)
	if err != nil {
		return fmt.Errorf("read the encryption key check: %w", err)
	}
	value, err := herald.CheckKey(s.codec.Cipher, stored, found)
	if err != nil || value == "" {
		return err
	}
	return s.write(ctx, "store the encryption key check", func(w *wtx) error {
		_, err := w.exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			herald.KeyCheckSetting, value)
		return err
	})
}

// reencryptBatch is how many endpoints one SecretsReencrypt transaction
// rewrites at most.
const reencryptBatch = 100

// SecretsReencrypt implements herald.SecretStore.
func (s *Store) SecretsReencrypt(ctx context.Context, allowUnreadable bool) (herald.SecretsReencrypted, error) {
	c := s.codec.Cipher
	batch := func(ctx context.Context, after string) (last string, more bool, done herald.SecretsReencrypted, err error) {
		err = s.write(ctx, "re-encrypt secrets", func(w *wtx) error {
			var err error
			done = herald.SecretsReencrypted{} // set afresh if the write is retried
			last, more, err = reencryptRows(w, c, after, &done)
			return err
		})
		return last, more, done, err
	}
	storeCheck := func(ctx context.Context, value string) error {
		return s.write(ctx, "store the encryption key check", func(w *wtx) error {
			_, err := w.exec("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
				herald.KeyCheckSetting, value)
			return err
		})
	}
	return herald.Reencrypt(ctx, c, allowUnreadable, batch, storeCheck)
}

// reencryptRows re-encrypts the secrets of up to reencryptBatch endpoints
// after ID after, returning the last ID read and whether more may follow.
func reencryptRows(w *wtx, c herald.SecretCipher, after string, done *herald.SecretsReencrypted) (string, bool, error) {
	rows, err := w.query("SELECT id, secrets FROM endpoints WHERE id > ? ORDER BY id LIMIT ?", after, reencryptBatch)
	if err != nil {
		return after, false, err
	}
	type row struct {
		id      string
		secrets sql.NullString
	}
	var batch []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.secrets); err != nil {
			rows.Close()
			return after, false, err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return after, false, err
	}
	for _, r := range batch {
		var stored []secretJSON
		if err := fromJSON(r.secrets, &stored); err != nil {
			return after, false, fmt.Errorf("endpoint %s: %w", r.id, err)
		}
		changed, unreadable := false, false
		for i := range stored {
			out, ch, err := herald.ReencryptSecret(c, stored[i].Key)
			unreadable = unreadable || err != nil
			changed = changed || ch
			stored[i].Key = out
		}
		if unreadable {
			done.Unreadable++
		}
		if !changed {
			continue
		}
		text, err := jsonText(stored)
		if err != nil {
			return after, false, err
		}
		if _, err := w.exec("UPDATE endpoints SET secrets = ? WHERE id = ?", text, r.id); err != nil {
			return after, false, err
		}
		done.Endpoints++
	}
	if len(batch) == 0 {
		return after, false, nil
	}
	return batch[len(batch)-1].id, len(batch) == reencryptBatch, nil
}
