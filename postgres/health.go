package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const healthColumns = "endpoint_id, app_id, first_failure_at, last_failure_at, last_success_at, " +
	"consecutive_failures, disabled_at, disabled_reason"

func scanHealth(sc scanner) (herald.EndpointHealth, error) {
	var h herald.EndpointHealth
	var first, last, success, disabled *time.Time
	err := sc.Scan(&h.EndpointID, &h.AppID, &first, &last, &success, &h.ConsecutiveFailures, &disabled, &h.DisabledReason)
	h.FirstFailureAt, h.LastFailureAt = fromNullTS(first), fromNullTS(last)
	h.LastSuccessAt, h.DisabledAt = fromNullTS(success), fromNullTS(disabled)
	return h, err
}

// nullTS stores the zero time as NULL.
func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// loadHealth returns the endpoint's health row (locked when forUpdate),
// or a zero record.
func loadHealth(ctx context.Context, q querier, endpointID, appID string, forUpdate bool) (herald.EndpointHealth, error) {
	query := "SELECT " + healthColumns + " FROM endpoint_health WHERE endpoint_id = $1"
	if forUpdate {
		query += " FOR UPDATE"
	}
	h, err := scanHealth(q.QueryRow(ctx, query, endpointID))
	if errors.Is(err, pgx.ErrNoRows) {
		return herald.EndpointHealth{EndpointID: endpointID, AppID: appID}, nil
	}
	return h, err
}

// saveHealth writes h.
func saveHealth(w *wtx, h *herald.EndpointHealth) error {
	_, err := w.exec(`INSERT INTO endpoint_health (`+healthColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (endpoint_id) DO UPDATE SET first_failure_at = excluded.first_failure_at,
			last_failure_at = excluded.last_failure_at, last_success_at = excluded.last_success_at,
			consecutive_failures = excluded.consecutive_failures, disabled_at = excluded.disabled_at,
			disabled_reason = excluded.disabled_reason`,
		h.EndpointID, h.AppID, nullTS(h.FirstFailureAt), nullTS(h.LastFailureAt), nullTS(h.LastSuccessAt),
		h.ConsecutiveFailures, nullTS(h.DisabledAt), h.DisabledReason)
	if isForeignKey(err) {
		return nil // the endpoint was deleted meanwhile
	}
	return err
}

// EndpointHealthGet implements herald.HealthStore.
func (s *Store) EndpointHealthGet(ctx context.Context, endpointID string) (herald.EndpointHealth, error) {
	var h herald.EndpointHealth
	err := s.read(ctx, "get endpoint health", func(q querier) error {
		var err error
		h, err = loadHealth(ctx, q, endpointID, "", false)
		return err
	})
	return h, err
}

// recordHealth updates the health of the endpoints of the applied results
// (in order) and emits the operational events they cause, inside the
// DeliveryComplete transaction: one read that locks the endpoints' rows
// (in ID order, so that concurrent batches do not deadlock) and one write
// per endpoint.
func recordHealth(w *wtx, applied []*herald.DeliveryResult) error {
	if len(applied) == 0 {
		return nil
	}
	opApp, err := operationalAppID(w)
	if err != nil {
		return err
	}
	byEndpoint, order, err := lockHealth(w, applied)
	if err != nil {
		return err
	}
	for _, r := range applied {
		a := &r.Attempt
		h := byEndpoint[a.EndpointID]
		for _, typ := range h.Apply(r, opApp) {
			if err := emitAttemptEvent(w, opApp, typ, a); err != nil {
				return err
			}
		}
	}
	for _, id := range order {
		if err := saveHealth(w, byEndpoint[id]); err != nil {
			return err
		}
	}
	return nil
}

// lockHealth reads and locks the health rows of the results' endpoints,
// in endpoint ID order, and returns them by endpoint (a zero record for
// one without a row) with the endpoint IDs in that order.
func lockHealth(w *wtx, applied []*herald.DeliveryResult) (map[string]*herald.EndpointHealth, []string, error) {
	byEndpoint := map[string]*herald.EndpointHealth{}
	var order []string
	for _, r := range applied {
		if _, ok := byEndpoint[r.Attempt.EndpointID]; !ok {
			byEndpoint[r.Attempt.EndpointID] = &herald.EndpointHealth{EndpointID: r.Attempt.EndpointID, AppID: r.Attempt.AppID}
			order = append(order, r.Attempt.EndpointID)
		}
	}
	slices.Sort(order)
	rows, err := w.tx.Query(w.ctx, "SELECT "+healthColumns+` FROM endpoint_health
		WHERE endpoint_id = ANY($1::text[]) ORDER BY endpoint_id FOR UPDATE`, order)
	if err != nil {
		return nil, nil, err
	}
	found, err := collect(rows, scanHealth)
	if err != nil {
		return nil, nil, err
	}
	for i := range found {
		*byEndpoint[found[i].EndpointID] = found[i]
	}
	return byEndpoint, order, nil
}

// emitAttemptEvent emits a message.attempt.* event about a.
func emitAttemptEvent(w *wtx, opApp, typ string, a *herald.Attempt) error {
	var appUID, eventID *string
	err := w.tx.QueryRow(w.ctx, `SELECT (SELECT uid FROM applications WHERE id = $1),
		(SELECT event_id FROM messages WHERE id = $2)`, a.AppID, a.MsgID).Scan(&appUID, &eventID)
	if err != nil {
		return err
	}
	return emitOperational(w, opApp, typ, herald.AttemptEventPayload(typ, fromNullStr(appUID), fromNullStr(eventID), a))
}

// emitEndpointEvent emits an endpoint.* event about ep, unless ep belongs to
// the operational application or there is none.
func emitEndpointEvent(w *wtx, typ string, ep *herald.Endpoint, failSince time.Time) error {
	opApp, err := operationalAppID(w)
	if err != nil || opApp == "" || ep.AppID == opApp {
		return err
	}
	var appUID *string
	if err := w.tx.QueryRow(w.ctx, "SELECT (SELECT uid FROM applications WHERE id = $1)", ep.AppID).Scan(&appUID); err != nil {
		return err
	}
	return emitOperational(w, opApp, typ, herald.EndpointEventPayload(typ, fromNullStr(appUID), ep, failSince))
}

// operationalAppID returns the ID of the operational application, "" if
// none was made (no operational endpoint was ever registered).
func operationalAppID(w *wtx) (string, error) {
	var id string
	err := w.tx.QueryRow(w.ctx, "SELECT id FROM applications WHERE uid = $1", herald.OperationalAppUID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// emitOperational writes an operational message of type typ in the
// operational application opApp, with a pending delivery, due now, to
// each of its matching endpoints (createMessageQuery, run again with more
// delivery IDs should it need them).
func emitOperational(w *wtx, opApp, typ string, payload json.RawMessage) error {
	now := time.Now()
	msgID := herald.NewID(herald.PrefixMessage, now)
	n := 4
	for range maxFanOutRounds {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = herald.NewID(herald.PrefixDelivery, now)
		}
		var need int64
		var written bool
		var targets []string
		err := w.tx.QueryRow(w.ctx, createMessageQuery, msgID, opApp, nil, typ, textArray(nil), []byte(payload),
			herald.OperationalRetentionDays, now, ids, textArray(nil), int(herald.StatusPending),
			int(herald.TriggerScheduled), now, nil, now.Add(herald.OperationalRetentionDays*herald.RetentionDay)).
			Scan(&need, &written, &targets)
		if err != nil {
			return fmt.Errorf("emit %s: %w", typ, err)
		}
		if written {
			w.notify = w.notify || len(targets) > 0
			return nil
		}
		n = int(need)
	}
	return errRetry
}

// autoDisableQuery finds enabled endpoints failing for long enough.
const autoDisableQuery = `SELECT ` + endpointColumnsE + `, h.first_failure_at FROM endpoint_health h
	JOIN endpoints e ON e.id = h.endpoint_id
	WHERE h.first_failure_at IS NOT NULL AND h.disabled_at IS NULL AND h.first_failure_at <= $1
		AND h.last_failure_at > $2 AND NOT e.disabled
	ORDER BY h.first_failure_at LIMIT $3
	FOR UPDATE OF h, e SKIP LOCKED`

// EndpointAutoDisable implements herald.HealthStore.
func (s *Store) EndpointAutoDisable(ctx context.Context, p herald.AutoDisableParams) ([]herald.Endpoint, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	var out []herald.Endpoint
	err := s.write(ctx, "auto-disable endpoints", func(w *wtx) error {
		out = nil
		rows, err := w.tx.Query(w.ctx, autoDisableQuery, p.FailingSince, p.FailedAfter, p.Limit)
		if err != nil {
			return err
		}
		type found struct {
			ep    herald.Endpoint
			since time.Time
		}
		eps, err := collect(rows, func(sc scanner) (found, error) {
			var first time.Time
			ep, err := scanEndpoint(s.codec, sc, &first)
			return found{ep, first.UTC()}, err
		})
		if err != nil {
			return err
		}
		for _, f := range eps {
			ep := f.ep
			reason := fmt.Sprintf(herald.DisabledReasonFailing, f.since.Format(time.RFC3339))
			if err := disableEndpoint(w, &ep, p.Now, reason); err != nil {
				return err
			}
			if err := emitEndpointEvent(w, herald.OpEndpointDisabled, &ep, f.since); err != nil {
				return err
			}
			out = append(out, ep)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// disableEndpoint marks ep disabled at now for reason.
func disableEndpoint(w *wtx, ep *herald.Endpoint, now time.Time, reason string) error {
	if _, err := w.exec("UPDATE endpoints SET disabled = true, updated_at = $1 WHERE id = $2", now, ep.ID); err != nil {
		return err
	}
	if _, err := w.exec("UPDATE endpoint_health SET disabled_at = $1, disabled_reason = $2 WHERE endpoint_id = $3",
		now, reason, ep.ID); err != nil {
		return err
	}
	at := now.UTC()
	ep.Disabled, ep.UpdatedAt, ep.DisabledAt, ep.DisabledReason = true, at, &at, reason
	return nil
}

// updateHealthState writes the disabled state of an endpoint being
// updated, given whether it was disabled before: a newly disabled one
// gets DisabledAt and DisabledReason (manual unless set), an enabled one
// loses its health (a new start) and emits endpoint.enabled.
func updateHealthState(w *wtx, ep *herald.Endpoint, wasDisabled bool) error {
	switch {
	case ep.Disabled && !wasDisabled:
		h, err := loadHealth(w.ctx, w.tx, ep.ID, ep.AppID, true)
		if err != nil {
			return err
		}
		h.Disable(ep)
		return saveHealth(w, &h)
	case !ep.Disabled && wasDisabled:
		ep.DisabledAt, ep.DisabledReason = nil, ""
		if _, err := w.exec("DELETE FROM endpoint_health WHERE endpoint_id = $1", ep.ID); err != nil {
			return err
		}
		return emitEndpointEvent(w, herald.OpEndpointEnabled, ep, time.Time{})
	}
	return nil
}

// fillDisabled sets DisabledAt and DisabledReason on the disabled
// endpoints of eps from their health rows.
func fillDisabled(ctx context.Context, q querier, eps []herald.Endpoint) error {
	ids := herald.DisabledEndpointIDs(eps)
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT endpoint_id, disabled_at, disabled_reason FROM endpoint_health
		WHERE disabled_at IS NOT NULL AND endpoint_id = ANY($1::text[])`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	got := map[string]herald.EndpointHealth{}
	for rows.Next() {
		var h herald.EndpointHealth
		if err := rows.Scan(&h.EndpointID, &h.DisabledAt, &h.DisabledReason); err != nil {
			return err
		}
		got[h.EndpointID] = h
	}
	for i := range eps {
		if h, ok := got[eps[i].ID]; ok {
			at := h.DisabledAt.UTC()
			eps[i].DisabledAt, eps[i].DisabledReason = &at, h.DisabledReason
		}
	}
	return rows.Err()
}
