package sqlite

import (
	"context"
	"time"
)

// leaderAttemptQuery takes or renews a term: it inserts the row, or
// updates it when node leads already or the term has ended. It returns
// the row only when node leads afterwards.
const leaderAttemptQuery = `INSERT INTO leaders (name, node, elected_at, expires_at) VALUES (?1, ?2, ?3, ?4)
	ON CONFLICT (name) DO UPDATE SET
		elected_at = CASE WHEN leaders.node = excluded.node THEN leaders.elected_at ELSE excluded.elected_at END,
		node = excluded.node, expires_at = excluded.expires_at
	WHERE leaders.node = excluded.node OR leaders.expires_at < ?3
	RETURNING node`

// LeaderAttempt implements herald.LeaderStore.
func (s *Store) LeaderAttempt(ctx context.Context, name, node string, now, until time.Time) (bool, error) {
	var leads bool
	err := s.write(ctx, "attempt leadership", func(w *wtx) error {
		rows, err := w.query(leaderAttemptQuery, name, node, ts(now), ts(until))
		if err != nil {
			return err
		}
		defer rows.Close()
		leads = rows.Next()
		return rows.Err()
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return false, err
	}
	return leads, nil
}

// LeaderResign implements herald.LeaderStore.
func (s *Store) LeaderResign(ctx context.Context, name, node string) error {
	return s.write(ctx, "resign leadership", func(w *wtx) error {
		_, err := w.exec("DELETE FROM leaders WHERE name = ? AND node = ?", name, node)
		return err
	})
}

// DeliveryShared implements herald.DeliveryStore: one process uses the
// embedded store.
func (s *Store) DeliveryShared() bool { return false }
