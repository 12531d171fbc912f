package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

// IdempotencyGet implements herald.AuthStore.
func (s *Store) IdempotencyGet(ctx context.Context, key string, now time.Time) (*herald.IdempotentResponse, error) {
	var r herald.IdempotentResponse
	err := s.read(ctx, "get idempotent response", func(q querier) error {
		err := q.QueryRow(ctx, "SELECT key, status_code, body, expires_at FROM idempotency WHERE key = $1 AND expires_at > $2",
			key, now).Scan(&r.Key, &r.StatusCode, &r.Body, &r.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return herald.Errorf(herald.ENotFound, "Idempotent response not found")
		}
		r.ExpiresAt = fromTS(r.ExpiresAt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// IdempotencyPut implements herald.AuthStore.
func (s *Store) IdempotencyPut(ctx context.Context, r *herald.IdempotentResponse) error {
	return s.write(ctx, "put idempotent response", func(w *wtx) error {
		_, err := w.exec(`INSERT INTO idempotency (key, status_code, body, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO UPDATE SET status_code = excluded.status_code, body = excluded.body,
				expires_at = excluded.expires_at`,
			r.Key, r.StatusCode, bytesArg(r.Body), r.ExpiresAt)
		return err
	})
}

// IdempotencyPurge implements herald.AuthStore.
func (s *Store) IdempotencyPurge(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "purge idempotent responses", func(w *wtx) error {
		tag, err := w.exec("DELETE FROM idempotency WHERE expires_at < $1", now)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}
