package sqlite

import (
	"context"
	"encoding/json"
	"math"

	"github.com/herald-webhooks/herald"
)

const deliveryColumns = "d.id, d.app_id, d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, " +
	"d.lease_until, d.trigger_type, d.created_at, d.updated_at"

// Claim scan bounds: a claim reads the due index in windows of
// claimWindow rows (at least claimWindowMin, at most claimWindowMax) and
// gives up after claimRounds windows, so that its cost stays bounded
// however large the backlog of excluded or saturated endpoints is.
const (
	claimWindowMin = 512
	claimWindowMax = 4096
	claimRounds    = 8
)

// claimScanQuery reads one window of the due index, after a cursor.
const claimScanQuery = `SELECT id, endpoint_id, next_attempt_at FROM deliveries INDEXED BY deliveries_due
	WHERE status = ? AND next_attempt_at <= ? AND (next_attempt_at, id) > (?, ?)
	ORDER BY next_attempt_at, id LIMIT ?`

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

// DeliveryClaim implements herald.DeliveryStore. It reads the due index in
// bounded windows (see claimRounds), so with a backlog of more than about
// claimRounds*claimWindow due deliveries that all belong to excluded or
// saturated endpoints it may claim fewer than it could.
func (s *Store) DeliveryClaim(ctx context.Context, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	var jobs []herald.DeliveryJob
	err := s.write(ctx, "claim deliveries", func(w *wtx) error {
		jobs = nil
		ids, err := pickDue(w, p)
		if err != nil || len(ids) == 0 {
			return err
		}
		_, err = w.exec(`UPDATE deliveries SET status = ?, lease_until = ?, updated_at = ?
			WHERE id IN (SELECT value FROM json_each(?))`,
			herald.StatusSending, ts(p.LeaseUntil), ts(p.Now), jsonIDs(ids))
		if err != nil {
			return err
		}
		jobs, err = loadJobs(w, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// dueRow is one entry of the due index.
type dueRow struct {
	id, endpointID string
	at             int64
}

// pickDue returns the IDs of the deliveries to claim, oldest due first.
func pickDue(w *wtx, p herald.ClaimParams) ([]string, error) {
	excluded := make(map[string]bool, len(p.ExcludeEndpoints))
	for _, id := range p.ExcludeEndpoints {
		excluded[id] = true
	}
	window := min(max(p.Limit*4, claimWindowMin), claimWindowMax)
	perEndpoint := map[string]int{}
	var picked []string
	lastAt, lastID := int64(math.MinInt64), ""
	for round := 0; round < claimRounds; round++ {
		rows, err := w.query(claimScanQuery, herald.StatusPending, ts(p.Now), lastAt, lastID, window)
		if err != nil {
			return nil, err
		}
		due, err := collect(rows, func(sc scanner) (dueRow, error) {
			var r dueRow
			return r, sc.Scan(&r.id, &r.endpointID, &r.at)
		})
		if err != nil {
			return nil, err
		}
		for _, r := range due {
			lastAt, lastID = r.at, r.id
			if excluded[r.endpointID] || (p.PerEndpoint > 0 && perEndpoint[r.endpointID] >= p.PerEndpoint) {
				continue
			}
			perEndpoint[r.endpointID]++
			picked = append(picked, r.id)
			if len(picked) == p.Limit {
				return picked, nil
			}
		}
		if len(due) < window {
			break
		}
	}
	return picked, nil
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
