package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/herald-webhooks/herald"
)

// completeQuery writes an attempt's outcome on its delivery, if it is
// still sending, and returns the delivery's endpoint (for the due index).
const completeQuery = `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
	lease_until = 0, updated_at = ? WHERE id = ? AND status = 3 RETURNING endpoint_id`

// DeliveryComplete implements herald.DeliveryStore: one write operation
// for the whole batch.
func (s *Store) DeliveryComplete(ctx context.Context, results []herald.DeliveryResult) error {
	if len(results) == 0 {
		return nil
	}
	return s.write(ctx, "complete deliveries", func(w *wtx) error {
		now := ts(time.Now())
		applied := make([]*herald.DeliveryResult, 0, len(results))
		for i := range results {
			r := &results[i]
			var endpointID string
			err := w.queryRow(completeQuery, r.Status, r.Attempts, ts(r.NextAttemptAt), now, r.Attempt.DeliveryID).Scan(&endpointID)
			if err == sql.ErrNoRows {
				// Gone with its endpoint or message, or queued again
				// (resend, recover, replay) while the attempt ran.
				requeued, err := deliveryExists(w, r.Attempt.DeliveryID)
				if err != nil {
					return err
				}
				if !requeued {
					continue
				}
				if err := insertAttempt(w, &r.Attempt); err != nil {
					return err
				}
				applied = append(applied, r.Requeued())
				continue
			}
			if err != nil {
				return err
			}
			if err := insertAttempt(w, &r.Attempt); err != nil {
				return err
			}
			applied = append(applied, r)
			if r.Status == herald.StatusPending {
				w.notify = true
				w.due(endpointID, r.NextAttemptAt)
			}
		}
		return recordHealth(w, applied)
	})
}

// deliveryExists reports whether the delivery is still in the queue.
func deliveryExists(w *wtx, id string) (bool, error) {
	var one int
	err := w.queryRow("SELECT 1 FROM deliveries WHERE id = ?", id).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

func insertAttempt(w *wtx, a *herald.Attempt) error {
	_, err := w.exec("INSERT INTO attempts ("+attemptColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID, a.DeliveryID, a.AppID, a.MsgID, a.EndpointID, a.URL, a.Status, a.ResponseStatusCode,
		a.Response, a.ResponseDurationMs, a.Trigger, ts(a.CreatedAt))
	if isUnique(err) {
		return herald.Errorf(herald.EConflict, "A message attempt with this ID already exists")
	}
	return err
}

// rescueQuery returns leased deliveries whose lease ended to the queue,
// found through the partial index deliveries_leased (status 3 is
// herald.StatusSending, spelled out so that the index applies).
const rescueQuery = `UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = 0, updated_at = ?
	WHERE status = 3 AND lease_until < ?`

// DeliveryRescue implements herald.DeliveryStore.
func (s *Store) DeliveryRescue(ctx context.Context, leaseBefore, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "rescue deliveries", func(w *wtx) error {
		// Jobs claimed on create and not handed out yet go with their rows.
		s.handoff.drop(func(j *herald.DeliveryJob) bool { return j.Delivery.LeaseUntil.Before(leaseBefore) })
		res, err := w.exec(rescueQuery, herald.StatusPending, ts(now), ts(now), ts(leaseBefore))
		if err != nil {
			return err
		}
		n, err = affected(res)
		w.notify = n > 0
		if n > 0 {
			s.due.unknown() // which endpoints is not known
		}
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}

// nextDueQuery reads the earliest due time from the partial due index
// (whose condition the query must spell out as a literal to use it).
const nextDueQuery = "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 1"

// DeliveryNextDue implements herald.DeliveryStore.
func (s *Store) DeliveryNextDue(ctx context.Context) (time.Time, bool, error) {
	if at, ok := s.due.next(); ok {
		return at, at != never, nil
	}
	var next sql.NullInt64
	err := s.read(ctx, "next due delivery", func(q querier) error {
		return q.QueryRowContext(ctx, nextDueQuery).Scan(&next)
	})
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return fromTS(next.Int64), true, nil
}

// DeliveryResend implements herald.DeliveryStore. ENotFound if the message
// or the endpoint does not exist in the application; ErrPayloadExpunged if
// the message's payload is gone.
func (s *Store) DeliveryResend(ctx context.Context, appID, msgID, endpointID string, now time.Time) error {
	return s.write(ctx, "resend delivery", func(w *wtx) error {
		if err := messageSendable(w, appID, msgID); err != nil {
			return err
		}
		if err := endpointExists(w.ctx, w, appID, endpointID); err != nil {
			return err
		}
		_, err := w.exec(`INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts,
				next_attempt_at, lease_until, trigger_type, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ?)
			ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = excluded.status, attempts = 0,
				next_attempt_at = excluded.next_attempt_at, lease_until = 0,
				trigger_type = excluded.trigger_type, updated_at = excluded.updated_at`,
			herald.NewID(herald.PrefixDelivery, now), appID, msgID, endpointID, herald.StatusPending,
			ts(now), herald.TriggerManual, ts(now), ts(now))
		w.notify = err == nil
		w.due(endpointID, now)
		return err
	})
}

// messageSendable returns nil if the message exists in the application
// and still has its payload: ENotFound, or ErrPayloadExpunged, if not.
func messageSendable(w *wtx, appID, msgID string) error {
	var expunged bool
	err := w.queryRow("SELECT payload IS NULL FROM messages WHERE id = ? AND app_id = ?", msgID, appID).Scan(&expunged)
	switch {
	case err == sql.ErrNoRows:
		return errMessageNotFound
	case err != nil:
		return err
	case expunged:
		return herald.ErrPayloadExpunged
	}
	return nil
}

// DeliveryRecover implements herald.DeliveryStore. ENotFound if the
// endpoint does not exist in the application.
func (s *Store) DeliveryRecover(ctx context.Context, appID, endpointID string, since, until, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "recover deliveries", func(w *wtx) error {
		if err := endpointExists(w.ctx, w, appID, endpointID); err != nil {
			return err
		}
		res, err := w.exec(`UPDATE deliveries SET status = ?, attempts = 0, next_attempt_at = ?, lease_until = 0,
				trigger_type = ?, updated_at = ?
			WHERE endpoint_id = ? AND status = ? AND EXISTS (SELECT 1 FROM messages m
				WHERE m.id = deliveries.msg_id AND m.created_at >= ? AND m.created_at < ? AND m.payload IS NOT NULL)`,
			herald.StatusPending, ts(now), herald.TriggerManual, ts(now),
			endpointID, herald.StatusFail, sinceTS(since), untilTS(until))
		if err != nil {
			return err
		}
		n, err = affected(res)
		w.notify = n > 0
		if n > 0 {
			w.due(endpointID, now)
		}
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}
