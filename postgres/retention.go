package postgres

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// expiredPayloadsQuery reads one batch of messages whose payload expired
// before $1, by expiry after the cursor ($2, $3), through the partial
// index messages_payload_expiry, at most $4 of them.
const expiredPayloadsQuery = `SELECT id, payload_expires_at FROM messages
	WHERE payload IS NOT NULL AND payload_expires_at < $1 AND (payload_expires_at, id) > ($2, $3)
	ORDER BY payload_expires_at, id LIMIT $4`

// lockPayloadsQuery locks the listed messages, in ID order (as task steps
// share-lock the messages they queue), so that a resend or replay of one
// of them that is under way commits first and the next statement, which
// reads anew, sees the deliveries it queued.
const lockPayloadsQuery = `SELECT id FROM messages WHERE id = ANY($1) AND payload IS NOT NULL ORDER BY id FOR UPDATE`

// expungePayloadsQuery expunges the listed messages' payloads, except
// those of messages with a pending or sending delivery, which would have
// nothing to send.
const expungePayloadsQuery = `UPDATE messages m SET payload = NULL
	WHERE m.id = ANY($1) AND m.payload IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries d
		WHERE d.msg_id = m.id AND d.status IN (` + sqlPending + `, ` + sqlSending + `))`

// MessagePayloadExpire implements herald.RetentionStore: one transaction
// of three statements, each of at most p.Limit rows.
func (s *Store) MessagePayloadExpire(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	var res herald.ExpireResult
	if p.Limit <= 0 {
		return res, nil
	}
	after := p.After.At
	if after.IsZero() {
		after = time.Unix(0, 0) // before every expiry
	}
	err := s.write(ctx, "expire message payloads", func(w *wtx) error {
		res = herald.ExpireResult{Next: p.After}
		expired, err := queryAll(w.ctx, w.tx, func(sc scanner) (herald.ExpireCursor, error) {
			var c herald.ExpireCursor
			return c, sc.Scan(&c.ID, &c.At)
		}, expiredPayloadsQuery, p.Before, after, p.After.ID, p.Limit)
		if err != nil || len(expired) == 0 {
			return err
		}
		ids := make([]string, len(expired))
		for i, c := range expired {
			ids[i] = c.ID
		}
		if _, err := w.exec(lockPayloadsQuery, ids); err != nil {
			return err
		}
		tag, err := w.exec(expungePayloadsQuery, ids)
		res.Changed, res.Examined, res.Next = int(tag.RowsAffected()), len(expired), expired[len(expired)-1]
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return herald.ExpireResult{}, err
	}
	res.Next.At = fromTS(res.Next.At)
	return res, nil
}

// expireResponsesQuery empties the oldest response bodies of attempts
// made before a bound ($1, an ID: IDs sort by creation time), at most $2,
// through the partial index attempts_response_held.
const expireResponsesQuery = `UPDATE attempts SET response = '' WHERE id IN (
	SELECT id FROM attempts WHERE response <> '' AND id < $1 ORDER BY id LIMIT $2)`

// deleteAttemptsQuery deletes the oldest attempts made before a bound, at
// most $2, through the primary key.
const deleteAttemptsQuery = `DELETE FROM attempts WHERE id IN (
	SELECT id FROM attempts WHERE id < $1 ORDER BY id LIMIT $2)`

// AttemptResponseExpire implements herald.RetentionStore.
func (s *Store) AttemptResponseExpire(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	return s.expireAttempts(ctx, "expire attempt responses", expireResponsesQuery, p)
}

// AttemptDeleteExpired implements herald.RetentionStore.
func (s *Store) AttemptDeleteExpired(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	return s.expireAttempts(ctx, "delete expired attempts", deleteAttemptsQuery, p)
}

// expireAttempts runs one bounded statement over the attempts made before
// p.Before; every row it examines changes.
func (s *Store) expireAttempts(ctx context.Context, what, query string, p herald.ExpireParams) (herald.ExpireResult, error) {
	if p.Limit <= 0 {
		return herald.ExpireResult{}, nil
	}
	var n int
	err := s.write(ctx, what, func(w *wtx) error {
		tag, err := w.exec(query, herald.IDAt(herald.PrefixAttempt, p.Before), p.Limit)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return herald.ExpireResult{}, err
	}
	return herald.ExpireResult{Changed: n, Examined: n}, nil
}

// deleteTasksQuery deletes the oldest background tasks created and last
// updated before a bound ($1 an ID, $2 a time) that are no longer running,
// at most $3, through the primary key (task IDs sort by creation time).
const deleteTasksQuery = `DELETE FROM tasks WHERE id IN (
	SELECT id FROM tasks WHERE id < $1 AND status <> 'running' AND updated_at < $2 ORDER BY id LIMIT $3)`

// TaskDeleteExpired implements herald.RetentionStore.
func (s *Store) TaskDeleteExpired(ctx context.Context, p herald.ExpireParams) (herald.ExpireResult, error) {
	if p.Limit <= 0 {
		return herald.ExpireResult{}, nil
	}
	var n int
	err := s.write(ctx, "delete expired tasks", func(w *wtx) error {
		tag, err := w.exec(deleteTasksQuery, herald.IDAt(herald.PrefixTask, p.Before), p.Before, p.Limit)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return herald.ExpireResult{}, err
	}
	return herald.ExpireResult{Changed: n, Examined: n}, nil
}
