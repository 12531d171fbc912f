package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/herald-webhooks/herald"
)

// queueStatsQuery counts the queue through the partial indexes on pending
// (due by next_attempt_at) and sending rows, each count stopping at the
// cap so that its cost stays bounded however large the queue grows.
const queueStatsQuery = `SELECT
	(SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = 1 AND next_attempt_at <= ?1 LIMIT ?2)),
	(SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = 1 AND next_attempt_at > ?1 LIMIT ?2)),
	(SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = 3 LIMIT ?2)),
	(SELECT min(next_attempt_at) FROM deliveries WHERE status = 1),
	(SELECT count(*) FROM (SELECT 1 FROM endpoints WHERE disabled = 1 LIMIT ?2))`

// QueueStats implements herald.StatsStore.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (herald.QueueStats, error) {
	var st herald.QueueStats
	var oldest sql.NullInt64
	err := s.read(ctx, "queue stats", func(q querier) error {
		return q.QueryRowContext(ctx, queueStatsQuery, ts(now), herald.QueueStatsCap).
			Scan(&st.Due, &st.Waiting, &st.Sending, &oldest, &st.EndpointsDisabled)
	})
	if err != nil {
		return herald.QueueStats{}, err
	}
	if st.Due > 0 && oldest.Valid {
		st.OldestDue = fromTS(oldest.Int64)
	}
	return st, nil
}
