package receive

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// due is the condition of an asynchronous record a worker may claim: queued
// and due, or running under an expired lease (its worker stopped or died).
const due = `is_async = 1 AND ((state = 'queued' AND run_at <= ?) OR (state = 'running' AND lease_until <= ?))`

// Enqueue implements Queue. The body and header are stored with the event
// until it is processed.
func (s *SQLStore) Enqueue(ctx context.Context, ev Event) (bool, error) {
	header, err := json.Marshal(ev.Header)
	if err != nil {
		return false, fmt.Errorf("receive: enqueue: %w", err)
	}
	body := ev.Body
	if body == nil {
		body = []byte{}
	}
	now := s.cfg.Now()
	res, err := s.db.ExecContext(ctx, s.query(`INSERT INTO {t} AS r (id, state, is_async, body, header, run_at) VALUES (?, 'queued', 1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET state = 'queued', is_async = 1, body = excluded.body, header = excluded.header, run_at = excluded.run_at,
	token = '', lease_until = 0, attempts = 0, last_error = '', finished_at = 0
WHERE r.state IN ('done', 'failed') AND r.finished_at <= ?`), ev.ID, body, string(header), now.UnixMilli(), s.expiredBefore(now))
	if err != nil {
		return false, fmt.Errorf("receive: enqueue: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("receive: enqueue: %w", err)
	}
	return n == 1, nil
}

// ClaimDue implements Queue. It reads candidates, then takes each with a
// conditional UPDATE ... RETURNING, so that of several processes claiming
// at once each event goes to one.
func (s *SQLStore) ClaimDue(ctx context.Context, token string, leaseUntil time.Time, limit int) ([]Job, error) {
	now := s.cfg.Now().UnixMilli()
	ids, err := s.dueIDs(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	take := s.query(`UPDATE {t} SET state = 'running', token = ?, lease_until = ?, attempts = attempts + 1
WHERE id = ? AND ` + due + ` RETURNING body, header, attempts`)
	var jobs []Job
	for _, id := range ids {
		var header sql.NullString
		j := Job{Event: Event{ID: id}, Token: token}
		err := s.db.QueryRowContext(ctx, take, token, leaseUntil.UnixMilli(), id, now, now).Scan(&j.Body, &header, &j.Attempt)
		if errors.Is(err, sql.ErrNoRows) {
			continue // another worker took it
		}
		if err != nil {
			return jobs, fmt.Errorf("receive: claim due: %w", err)
		}
		j.Header = http.Header{}
		if header.Valid {
			if err := json.Unmarshal([]byte(header.String), &j.Header); err != nil {
				return jobs, fmt.Errorf("receive: claim due: header of %s: %w", id, err)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// dueIDs returns up to limit ids of claimable events, oldest due first.
func (s *SQLStore) dueIDs(ctx context.Context, now int64, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.query(`SELECT id FROM {t} WHERE `+due+` ORDER BY run_at LIMIT ?`), now, now, limit)
	if err != nil {
		return nil, fmt.Errorf("receive: claim due: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("receive: claim due: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("receive: claim due: %w", err)
	}
	return ids, nil
}

// Retry implements Queue.
func (s *SQLStore) Retry(ctx context.Context, id, token string, runAt time.Time, lastErr string) error {
	_, err := s.db.ExecContext(ctx, s.query(`UPDATE {t} SET state = 'queued', run_at = ?, last_error = ?, token = '', lease_until = 0
WHERE id = ? AND token = ? AND state = 'running' AND is_async = 1`), runAt.UnixMilli(), lastErr, id, token)
	if err != nil {
		return fmt.Errorf("receive: retry: %w", err)
	}
	return nil
}

// Fail implements Queue. The failed event keeps its body (for a look or a
// manual replay) until the retention passes.
func (s *SQLStore) Fail(ctx context.Context, id, token string, lastErr string) error {
	_, err := s.db.ExecContext(ctx, s.query(`UPDATE {t} SET state = 'failed', last_error = ?, finished_at = ?, token = '', lease_until = 0
WHERE id = ? AND token = ? AND state = 'running' AND is_async = 1`), lastErr, s.cfg.Now().UnixMilli(), id, token)
	if err != nil {
		return fmt.Errorf("receive: fail: %w", err)
	}
	return nil
}
