package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

const attemptColumns = "id, delivery_id, app_id, msg_id, endpoint_id, url, status, response_status_code, " +
	"response, response_duration_ms, trigger_type, created_at"

// completeQuery writes a batch of results in one statement: it updates
// the deliveries that are still sending (columns $1..$4 are parallel
// arrays, one element per delivery) and inserts the attempts of those that
// still exist (parallel arrays $6..$17), returning each inserted attempt's
// ID and whether its delivery was updated (not queued again meanwhile). An
// attempt already stored (the same result written twice, as a retry after
// a lost commit acknowledgement does) is left as it is.
const completeQuery = `WITH r AS (
		SELECT * FROM unnest($1::text[], $2::smallint[], $3::integer[], $4::timestamptz[])
			AS r (id, status, attempts, next_attempt_at)),
	updated AS (
		UPDATE deliveries d SET status = r.status, attempts = r.attempts,
			next_attempt_at = coalesce(r.next_attempt_at, d.next_attempt_at), lease_until = NULL, updated_at = $5
		FROM r WHERE d.id = r.id AND d.status = ` + sqlSending + `
		RETURNING d.id)
	INSERT INTO attempts (` + attemptColumns + `)
	SELECT a.* FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
			$12::smallint[], $13::integer[], $14::text[], $15::bigint[], $16::smallint[], $17::timestamptz[])
		AS a (id, delivery_id, app_id, msg_id, endpoint_id, url, status, response_status_code, response,
			response_duration_ms, trigger_type, created_at)
	WHERE EXISTS (SELECT 1 FROM deliveries x WHERE x.id = a.delivery_id)
	ON CONFLICT (id) DO NOTHING
	RETURNING id, delivery_id IN (SELECT id FROM updated)`

// DeliveryComplete implements herald.DeliveryStore: one write operation
// for the whole batch. One statement writes the deliveries and attempts
// (completeQuery); then the health of their endpoints is read, locked and
// written, and the operational events they cause are emitted, in the same
// transaction (recordHealth). A result for a delivery that no longer
// exists is skipped with its attempt. When several results name one
// delivery, the last one sets its state.
func (s *Store) DeliveryComplete(ctx context.Context, results []herald.DeliveryResult) error {
	if len(results) == 0 {
		return nil
	}
	args, requeued := completeArgs(results)
	return s.write(ctx, "complete deliveries", func(w *wtx) error {
		rows, err := w.tx.Query(w.ctx, completeQuery, args...)
		if err != nil {
			return err
		}
		type insertedRow struct {
			id      string
			updated bool // false: the delivery was queued again meanwhile
		}
		inserted, err := collect(rows, func(sc scanner) (insertedRow, error) {
			var r insertedRow
			return r, sc.Scan(&r.id, &r.updated)
		})
		if err != nil {
			return err
		}
		updated := make(map[string]bool, len(inserted))
		for _, r := range inserted {
			updated[r.id] = r.updated
		}
		applied := make([]*herald.DeliveryResult, 0, len(inserted))
		for i := range results {
			switch done, ok := updated[results[i].Attempt.ID]; {
			case ok && done:
				applied = append(applied, &results[i])
			case ok:
				applied = append(applied, results[i].Requeued())
			}
		}
		w.notify = requeued
		return recordHealth(w, applied)
	})
}

// completeArgs returns the parameters of completeQuery for results, and
// whether any result puts its delivery back to pending.
func completeArgs(results []herald.DeliveryResult) ([]any, bool) {
	last := make(map[string]int, len(results))
	for i := range results {
		last[results[i].Attempt.DeliveryID] = i
	}
	var (
		dIDs      []string
		dStatus   []int16
		dAttempts []int32
		dNext     []pgtype.Timestamptz
		requeued  bool
	)
	for i := range results {
		r := &results[i]
		if last[r.Attempt.DeliveryID] != i {
			continue
		}
		dIDs = append(dIDs, r.Attempt.DeliveryID)
		dStatus = append(dStatus, int16(r.Status))
		dAttempts = append(dAttempts, int32(r.Attempts))
		dNext = append(dNext, pgtype.Timestamptz{Time: r.NextAttemptAt, Valid: !r.NextAttemptAt.IsZero()})
		requeued = requeued || r.Status == herald.StatusPending
	}
	n := len(results)
	var (
		ids, deliveryIDs, appIDs, msgIDs = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		endpointIDs, urls, responses     = make([]string, n), make([]string, n), make([]string, n)
		statuses, triggers               = make([]int16, n), make([]int16, n)
		codes                            = make([]int32, n)
		durations                        = make([]int64, n)
		created                          = make([]time.Time, n)
	)
	for i := range results {
		a := &results[i].Attempt
		ids[i], deliveryIDs[i], appIDs[i], msgIDs[i] = a.ID, a.DeliveryID, a.AppID, a.MsgID
		endpointIDs[i], urls[i], responses[i] = a.EndpointID, a.URL, pgText(a.Response)
		statuses[i], triggers[i], codes[i] = int16(a.Status), int16(a.Trigger), int32(a.ResponseStatusCode)
		durations[i], created[i] = a.ResponseDurationMs, a.CreatedAt
	}
	return []any{dIDs, dStatus, dAttempts, dNext, time.Now(),
		ids, deliveryIDs, appIDs, msgIDs, endpointIDs, urls, statuses, codes, responses, durations, triggers, created}, requeued
}

// DeliveryRescue implements herald.DeliveryStore.
func (s *Store) DeliveryRescue(ctx context.Context, leaseBefore, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "rescue deliveries", func(w *wtx) error {
		tag, err := w.exec(`UPDATE deliveries SET status = `+sqlPending+`, next_attempt_at = $1, lease_until = NULL,
				updated_at = $1
			WHERE status = `+sqlSending+` AND lease_until < $2`, now, leaseBefore)
		n = int(tag.RowsAffected())
		w.notify = err == nil && n > 0
		if err != nil {
			return err
		}
		return endedOwnershipsPurge(w.ctx, w.tx, leaseBefore)
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}

// DeliveryNextDue implements herald.DeliveryStore.
func (s *Store) DeliveryNextDue(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	err := s.read(ctx, "next due delivery", func(q querier) error {
		return q.QueryRow(ctx, "SELECT min(next_attempt_at) FROM deliveries WHERE status = "+sqlPending).Scan(&next)
	})
	if err != nil || next == nil {
		return time.Time{}, false, err
	}
	return next.UTC(), true, nil
}

// DeliveryResend implements herald.DeliveryStore. ENotFound if the message
// or the endpoint does not exist in the application; ErrPayloadExpunged if
// the message's payload is gone. The (message, endpoint) delivery keeps
// its ID.
func (s *Store) DeliveryResend(ctx context.Context, appID, msgID, endpointID string, now time.Time) error {
	return s.write(ctx, "resend delivery", func(w *wtx) error {
		if err := messageSendable(w, appID, msgID); err != nil {
			return err
		}
		if err := endpointExists(w.ctx, w.tx, appID, endpointID); err != nil {
			return err
		}
		_, err := w.exec(`INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts,
				next_attempt_at, lease_until, trigger_type, created_at, updated_at)
			VALUES ($1, $2, $3, $4, `+sqlPending+`, 0, $5, NULL, $6, $5, $5)
			ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = excluded.status, attempts = 0,
				next_attempt_at = excluded.next_attempt_at, lease_until = NULL,
				trigger_type = excluded.trigger_type, updated_at = excluded.updated_at`,
			herald.NewID(herald.PrefixDelivery, now), appID, msgID, endpointID, now, int(herald.TriggerManual))
		var pgErr *pgconn.PgError
		if isForeignKey(err) && errors.As(err, &pgErr) {
			// Deleted since the checks above.
			if pgErr.ConstraintName == "deliveries_msg_id_fkey" {
				return errMessageNotFound
			}
			return errEndpointNotFound
		}
		w.notify = err == nil
		return err
	})
}

// messageSendable returns nil if the message exists in the application
// and still has its payload: ENotFound, or ErrPayloadExpunged, if not. It
// holds a share lock on the message until the transaction ends, so that an
// expunge (manual or by retention) waits for it and then sees what it
// queued, or it waits for the expunge and sees the payload gone.
func messageSendable(w *wtx, appID, msgID string) error {
	var expunged bool
	err := w.tx.QueryRow(w.ctx, "SELECT payload IS NULL FROM messages WHERE id = $1 AND app_id = $2 FOR SHARE",
		msgID, appID).Scan(&expunged)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
		if err := endpointExists(w.ctx, w.tx, appID, endpointID); err != nil {
			return err
		}
		tag, err := w.exec(`UPDATE deliveries d SET status = `+sqlPending+`, attempts = 0, next_attempt_at = $1,
				lease_until = NULL, trigger_type = $2, updated_at = $1
			FROM messages m
			WHERE d.endpoint_id = $3 AND d.status = $4 AND m.id = d.msg_id
				AND m.created_at >= $5 AND m.created_at < $6 AND m.payload IS NOT NULL`,
			now, int(herald.TriggerManual), endpointID, int(herald.StatusFail), sinceTS(since), untilTS(until))
		n = int(tag.RowsAffected())
		w.notify = err == nil && n > 0
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}
