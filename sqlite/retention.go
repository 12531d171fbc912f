package sqlite

import (
	"context"
	"math"

	"github.com/herald-webhooks/herald"
)

// expiredPayloadsQuery reads one batch of messages whose payload has
// expired, by expiry, after a cursor, through the partial index
// messages_payload_expiry (which holds only messages with a payload).
const expiredPayloadsQuery = `SELECT id, payload_expires_at FROM messages INDEXED BY messages_payload_expiry
	WHERE payload IS NOT NULL AND payload_expires_at < ? AND (payload_expires_at, id) > (?, ?)
	ORDER BY payload_expires_at, id LIMIT ?`

// expungePayloadsQuery expunges the listed messages' payloads, except
// those of messages with a pending (1) or sending (3) delivery, which
// would be sent as {}.
const expungePayloadsQuery = `UPDATE messages SET payload = NULL
	WHERE id IN (SELECT value FROM json_each(?)) AND NOT EXISTS (
		SELECT 1 FROM deliveries d WHERE d.msg_id = messages.id AND d.status IN (1, 3))`

// MessagePayloadExpire implements herald.RetentionStore: one write
// operation of two statements, each bounded by p.Limit rows.
func (s *Store) MessagePayloadExpire(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	var res herald.ExpireResult
	if p.Limit <= 0 {
		return res, nil
	}
	afterAt := int64(math.MinInt64)
	if !p.After.At.IsZero() {
		afterAt = ts(p.After.At)
	}
	err := s.write(ctx, "expire message payloads", func(w *wtx) error {
		res = herald.ExpireResult{}
		rows, err := w.query(expiredPayloadsQuery, ts(p.Before), afterAt, p.After.ID, p.Limit)
		if err != nil {
			return err
		}
		expired, err := collect(rows, func(sc scanner) (herald.ExpireCursor, error) {
			var c herald.ExpireCursor
			var at int64
			err := sc.Scan(&c.ID, &at)
			c.At = fromTS(at)
			return c, err
		})
		if err != nil || len(expired) == 0 {
			return err
		}
		ids := make([]string, len(expired))
		for i, c := range expired {
			ids[i] = c.ID
		}
		r, err := w.exec(expungePayloadsQuery, jsonIDs(ids))
		if err != nil {
			return err
		}
		res.Changed, err = affected(r)
		res.Examined, res.Next = len(expired), expired[len(expired)-1]
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return herald.ExpireResult{}, err
	}
	return res, nil
}

// expireResponsesQuery empties the oldest response bodies of attempts
// made before a bound, through the partial index attempts_response_held.
const expireResponsesQuery = `UPDATE attempts SET response = '' WHERE id IN (
	SELECT id FROM attempts INDEXED BY attempts_response_held
	WHERE response <> '' AND id < ? ORDER BY id LIMIT ?)`

// deleteAttemptsQuery deletes the oldest attempts made before a bound,
// through the primary key.
const deleteAttemptsQuery = `DELETE FROM attempts WHERE id IN (
	SELECT id FROM attempts WHERE id < ? ORDER BY id LIMIT ?)`

// AttemptResponseExpire implements herald.RetentionStore.
func (s *Store) AttemptResponseExpire(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	return s.expireAttempts(ctx, "expire attempt responses", expireResponsesQuery, p)
}

// AttemptDeleteExpired implements herald.RetentionStore.
func (s *Store) AttemptDeleteExpired(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	return s.expireAttempts(ctx, "delete expired attempts", deleteAttemptsQuery, p)
}

// expireAttempts runs one bounded statement over the attempts made before
// p.Before (by ID: IDs sort by creation time); every row it examines
// changes.
func (s *Store) expireAttempts(ctx context.Context, what, query string, p herald.ExpireParams) (herald.ExpireResult, error) {
	return s.expireBatch(ctx, what, p.Limit, query, herald.IDAt(herald.PrefixAttempt, p.Before), p.Limit)
}

// expireBatch runs one bounded write statement, unless limit is 0, and
// reports the rows it changed as both changed and examined.
func (s *Store) expireBatch(ctx context.Context, what string, limit int, query string, args ...any) (herald.ExpireResult, error) {
	if limit <= 0 {
		return herald.ExpireResult{}, nil
	}
	var n int
	err := s.write(ctx, what, func(w *wtx) error {
		r, err := w.exec(query, args...)
		if err != nil {
			return err
		}
		n, err = affected(r)
		return err
	})
	if err != nil {
		return herald.ExpireResult{}, err
	}
	return herald.ExpireResult{Changed: n, Examined: n}, nil
}

// deleteTasksQuery deletes the oldest background tasks created and last
// updated before a bound that are no longer running, through the primary
// key (task IDs sort by creation time).
const deleteTasksQuery = `DELETE FROM tasks WHERE id IN (
	SELECT id FROM tasks WHERE id < ? AND status <> 'running' AND updated_at < ? ORDER BY id LIMIT ?)`

// TaskDeleteExpired implements herald.RetentionStore.
func (s *Store) TaskDeleteExpired(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	return s.expireBatch(ctx, "delete expired tasks", p.Limit, deleteTasksQuery,
		herald.IDAt(herald.PrefixTask, p.Before), ts(p.Before), p.Limit)
}
