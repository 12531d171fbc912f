package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/herald-webhooks/herald"
)

const deliveryColumns = "d.id, d.app_id, d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, " +
	"d.lease_until, d.trigger_type, d.created_at, d.updated_at"

func scanDelivery(sc scanner, extra ...any) (herald.Delivery, error) {
	var d herald.Delivery
	var next, lease, created, updated int64
	dest := append([]any{&d.ID, &d.AppID, &d.MsgID, &d.EndpointID, &d.Status, &d.Attempts, &next, &lease,
		&d.Trigger, &created, &updated}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return d, err
	}
	d.NextAttemptAt, d.LeaseUntil = fromTS(next), fromTS(lease)
	d.CreatedAt, d.UpdatedAt = fromTS(created), fromTS(updated)
	return d, nil
}

// jsonIDs encodes ids as one JSON array argument, for
// "IN (SELECT value FROM json_each(?))" without a limit on their number.
func jsonIDs(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // strings always encode
	return string(b)
}

// DeliveryClaim implements herald.DeliveryStore; see pickDue for how it
// chooses. Jobs claimed on create (see handoff) come first, from memory;
// the database is read only when it may hold due deliveries.
func (s *Store) DeliveryClaim(ctx context.Context, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	s.handoff.noteClaim(p)
	jobs, stale := s.handoff.pop(p)
	readDB, seq := s.handoff.dbMayHaveDue(p.Now)
	if len(stale) > 0 {
		readDB = true
	}
	if !readDB || len(jobs) == p.Limit && len(stale) == 0 {
		return jobs, nil
	}
	rest := p
	rest.Limit -= len(jobs)
	var claimed []herald.DeliveryJob
	next := never
	err := s.write(ctx, "claim deliveries", func(w *wtx) error {
		claimed, next = nil, never
		if err := releaseStale(w, stale, p.Now); err != nil {
			return err
		}
		if rest.Limit == 0 {
			return nil
		}
		var err error
		if claimed, err = claimFromDB(w, rest); err != nil || len(claimed) == rest.Limit {
			return err
		}
		next, err = nextDue(w)
		return err
	})
	if err != nil {
		// The jobs taken from memory are claimed in the database already.
		if len(jobs) > 0 {
			return jobs, nil
		}
		return nil, err
	}
	switch {
	case len(stale) == 0 && rest.Limit > 0 && len(claimed) < rest.Limit:
		s.handoff.settle(seq, next) // every due delivery was seen
	case len(claimed) > 0:
		s.handoff.unknown() // the earliest due ones may be gone
	}
	return append(jobs, claimed...), nil
}

// claimFromDB claims due deliveries from the queue table.
func claimFromDB(w *wtx, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	ids, err := pickDue(w, p)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	_, err = w.exec(`UPDATE deliveries SET status = ?, lease_until = ?, updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?))`,
		herald.StatusSending, ts(p.LeaseUntil), ts(p.Now), jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	return loadJobs(w, ids)
}

// nextDue returns the earliest due time of a pending delivery, or never.
func nextDue(w *wtx) (time.Time, error) {
	var next sql.NullInt64
	if err := w.queryRow(nextDueQuery).Scan(&next); err != nil || !next.Valid {
		return never, err
	}
	return fromTS(next.Int64), nil
}

// releaseStale returns claimed-on-create deliveries that waited in memory
// too long to the queue, due now.
func releaseStale(w *wtx, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := w.exec(`UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = 0, updated_at = ?
		WHERE status = 3 AND id IN (SELECT value FROM json_each(?))`,
		herald.StatusPending, ts(now), ts(now), jsonIDs(ids))
	if err == nil {
		w.due(now)
		w.notify = true
	}
	return err
}

// loadJobs returns the claimed deliveries with their messages and
// endpoints, oldest due first.
func loadJobs(w *wtx, ids []string) ([]herald.DeliveryJob, error) {
	rows, err := w.query("SELECT "+messageColumns+", "+deliveryColumns+` FROM deliveries d
		JOIN messages m ON m.id = d.msg_id
		WHERE d.id IN (SELECT value FROM json_each(?))
		ORDER BY d.next_attempt_at, d.id`, jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	jobs, err := collect(rows, func(sc scanner) (herald.DeliveryJob, error) {
		var j herald.DeliveryJob
		var next, lease, created, updated int64
		var err error
		j.Message, err = scanMessage(sc, &j.Delivery.ID, &j.Delivery.AppID, &j.Delivery.MsgID, &j.Delivery.EndpointID,
			&j.Delivery.Status, &j.Delivery.Attempts, &next, &lease, &j.Delivery.Trigger, &created, &updated)
		j.Delivery.NextAttemptAt, j.Delivery.LeaseUntil = fromTS(next), fromTS(lease)
		j.Delivery.CreatedAt, j.Delivery.UpdatedAt = fromTS(created), fromTS(updated)
		return j, err
	})
	if err != nil {
		return nil, err
	}
	var epIDs []string
	seen := map[string]bool{}
	for _, j := range jobs {
		if !seen[j.Delivery.EndpointID] {
			seen[j.Delivery.EndpointID] = true
			epIDs = append(epIDs, j.Delivery.EndpointID)
		}
	}
	rows, err = w.query("SELECT "+endpointColumns+" FROM endpoints WHERE id IN (SELECT value FROM json_each(?))", jsonIDs(epIDs))
	if err != nil {
		return nil, err
	}
	eps, err := collect(rows, scanEndpointRow)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]herald.Endpoint, len(eps))
	for _, e := range eps {
		byID[e.ID] = e
	}
	for i := range jobs {
		jobs[i].Endpoint = byID[jobs[i].Delivery.EndpointID]
	}
	return jobs, nil
}
