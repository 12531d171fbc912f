package postgres

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// expirePayloadsQuery expunges, in one statement, the payloads of one
// batch of messages whose payload expired before $1, read by expiry after
// the cursor ($2, $3) through the partial index messages_payload_expiry,
// at most $4 of them; those with a pending or sending delivery (which
// would be sent as {}) keep theirs. It returns how many messages it read
// and changed, and the last one read.
const expirePayloadsQuery = `WITH x AS (
		SELECT id, payload_expires_at FROM messages
		WHERE payload IS NOT NULL AND payload_expires_at < $1 AND (payload_expires_at, id) > ($2, $3)
		ORDER BY payload_expires_at, id LIMIT $4),
	u AS (
		UPDATE messages m SET payload = NULL FROM x
		WHERE m.id = x.id AND NOT EXISTS (SELECT 1 FROM deliveries d
			WHERE d.msg_id = m.id AND d.status IN (` + sqlPending + `, ` + sqlSending + `))
		RETURNING m.id)
	SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM u),
		coalesce((SELECT max(payload_expires_at) FROM x), $2),
		coalesce((SELECT id FROM x ORDER BY payload_expires_at DESC, id DESC LIMIT 1), $3)`

// MessagePayloadExpire implements herald.RetentionStore: one statement
// of at most p.Limit rows.
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
		var examined, changed int64
		var next herald.ExpireCursor
		err := w.tx.QueryRow(w.ctx, expirePayloadsQuery, p.Before, after, p.After.ID, p.Limit).
			Scan(&examined, &changed, &next.At, &next.ID)
		res = herald.ExpireResult{Changed: int(changed), Examined: int(examined), Next: next}
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return herald.ExpireResult{}, err
	}
	if res.Examined == 0 {
		res.Next = p.After
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
