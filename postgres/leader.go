package postgres

import (
	"context"
	"time"
)

// leaderAttemptQuery takes or renews a term: it inserts the row, or
// updates it when node leads already or the term has ended. It returns
// the row only when node leads afterwards.
const leaderAttemptQuery = `INSERT INTO leaders (name, node, elected_at, expires_at) VALUES ($1, $2, $3, $4)
	ON CONFLICT (name) DO UPDATE SET
		elected_at = CASE WHEN leaders.node = excluded.node THEN leaders.elected_at ELSE excluded.elected_at END,
		node = excluded.node, expires_at = excluded.expires_at
	WHERE leaders.node = excluded.node OR leaders.expires_at < $3
	RETURNING node`

// LeaderAttempt implements herald.LeaderStore. It runs on its own, not in
// a write batch, so that a slow batch cannot cost a leader its term.
func (s *Store) LeaderAttempt(ctx context.Context, name, node string, now, until time.Time) (bool, error) {
	var leads bool
	err := s.read(ctx, "attempt leadership", func(q querier) error {
		rows, err := q.Query(ctx, leaderAttemptQuery, name, node, now, until)
		if err != nil {
			return err
		}
		defer rows.Close()
		leads = rows.Next()
		rows.Close()
		return rows.Err()
	})
	return leads, err
}

// LeaderResign implements herald.LeaderStore.
func (s *Store) LeaderResign(ctx context.Context, name, node string) error {
	return s.read(ctx, "resign leadership", func(q querier) error {
		_, err := q.Exec(ctx, "DELETE FROM leaders WHERE name = $1 AND node = $2", name, node)
		return err
	})
}

// DeliveryShared implements herald.DeliveryStore: every node on the
// database claims from it.
func (s *Store) DeliveryShared() bool { return true }
