package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

// settingGet returns a stored setting.
func settingGet(ctx context.Context, q querier, name string) (value string, found bool, err error) {
	err = q.QueryRow(ctx, "SELECT value FROM settings WHERE name = $1", name).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, err
}

// checkKey runs herald.CheckKey against the stored key check value,
// storing one when the database has none yet (and checking again what is
// stored then, in case another node stored its own first).
func (s *Store) checkKey(ctx context.Context) error {
	stored, found, err := settingGet(ctx, s.pool, herald.KeyCheckSetting)
	if err != nil {
		return fmt.Errorf("read the encryption key check: %w", mapErr(err))
	}
	value, err := herald.CheckKey(s.codec.Cipher, stored, found)
	if err != nil || value == "" {
		return err
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
		herald.KeyCheckSetting, value)
	if err != nil {
		return fmt.Errorf("store the encryption key check: %w", mapErr(err))
	}
	if stored, found, err = settingGet(ctx, s.pool, herald.KeyCheckSetting); err != nil {
		return fmt.Errorf("read the encryption key check: %w", mapErr(err))
	}
	_, err = herald.CheckKey(s.codec.Cipher, stored, found)
	return err
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
			_, err := w.exec("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
				herald.KeyCheckSetting, value)
			return err
		})
	}
	return herald.Reencrypt(ctx, c, allowUnreadable, batch, storeCheck)
}

// reencryptRows re-encrypts the secrets of up to reencryptBatch endpoints
// after ID after, returning the last ID read and whether more may follow.
func reencryptRows(w *wtx, c herald.SecretCipher, after string, done *herald.SecretsReencrypted) (string, bool, error) {
	type row struct {
		id      string
		secrets []byte
	}
	rows, err := w.tx.Query(w.ctx, "SELECT id, secrets FROM endpoints WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE",
		after, reencryptBatch)
	if err != nil {
		return after, false, err
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var out row
		return out, r.Scan(&out.id, &out.secrets)
	})
	if err != nil {
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
		arg, err := jsonArg(stored)
		if err != nil {
			return after, false, err
		}
		if _, err := w.exec("UPDATE endpoints SET secrets = $1 WHERE id = $2", arg, r.id); err != nil {
			return after, false, err
		}
		done.Endpoints++
	}
	if len(batch) == 0 {
		return after, false, nil
	}
	return batch[len(batch)-1].id, len(batch) == reencryptBatch, nil
}
