package postgres

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// queueStatsQuery counts the queue through the partial indexes on pending
// (due by next_attempt_at) and sending rows, each count stopping at the
// cap so that its cost stays bounded however large the queue grows.
const queueStatsQuery = `SELECT
	(SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = ` + sqlPending + ` AND next_attempt_at <= $1 LIMIT $2) d),
	(SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = ` + sqlPending + ` AND next_attempt_at > $1 LIMIT $2) w),
	(SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = ` + sqlSending + ` LIMIT $2) s),
	(SELECT min(next_attempt_at) FROM deliveries WHERE status = ` + sqlPending + `),
	(SELECT count(*) FROM (SELECT 1 FROM endpoints WHERE disabled LIMIT $2) e)`

// QueueStats implements herald.StatsStore.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (herald.QueueStats, error) {
	var st herald.QueueStats
	var oldest *time.Time
	err := s.read(ctx, "queue stats", func(q querier) error {
		return q.QueryRow(ctx, queueStatsQuery, now, herald.QueueStatsCap).
			Scan(&st.Due, &st.Waiting, &st.Sending, &oldest, &st.EndpointsDisabled)
	})
	if err != nil {
		return herald.QueueStats{}, err
	}
	if st.Due > 0 && oldest != nil {
		st.OldestDue = oldest.UTC()
	}
	return st, nil
}
