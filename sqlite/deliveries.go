package sqlite

import (
	"context"
	"encoding/json"

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
// chooses.
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
