package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald"
)

const healthColumns = "endpoint_id, app_id, first_failure_at, last_failure_at, last_success_at, " +
	"consecutive_failures, disabled_at, disabled_reason"

func scanHealth(sc scanner) (herald.EndpointHealth, error) {
	var h herald.EndpointHealth
	var first, last, success, disabled int64
	err := sc.Scan(&h.EndpointID, &h.AppID, &first, &last, &success, &h.ConsecutiveFailures, &disabled, &h.DisabledReason)
	h.FirstFailureAt, h.LastFailureAt, h.LastSuccessAt, h.DisabledAt = fromTS(first), fromTS(last), fromTS(success), fromTS(disabled)
	return h, err
}

// loadHealth returns the endpoint's health row, or a zero record.
func loadHealth(ctx context.Context, q querier, endpointID, appID string) (herald.EndpointHealth, error) {
	h, err := scanHealth(q.QueryRowContext(ctx, "SELECT "+healthColumns+" FROM endpoint_health WHERE endpoint_id = ?", endpointID))
	if err == sql.ErrNoRows {
		return herald.EndpointHealth{EndpointID: endpointID, AppID: appID}, nil
	}
	return h, err
}

// saveHealth writes h.
func saveHealth(w *wtx, h *herald.EndpointHealth) error {
	_, err := w.exec("INSERT OR REPLACE INTO endpoint_health ("+healthColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		h.EndpointID, h.AppID, ts(h.FirstFailureAt), ts(h.LastFailureAt), ts(h.LastSuccessAt),
		h.ConsecutiveFailures, ts(h.DisabledAt), h.DisabledReason)
	return err
}

// EndpointHealthGet implements herald.HealthStore.
func (s *Store) EndpointHealthGet(ctx context.Context, endpointID string) (herald.EndpointHealth, error) {
	var h herald.EndpointHealth
	err := s.read(ctx, "get endpoint health", func(q querier) error {
		var err error
		h, err = loadHealth(ctx, q, endpointID, "")
		return err
	})
	return h, err
}

// recordHealth updates the health of the endpoints of the applied results
// (in order) and emits the operational events they cause, inside the
// DeliveryComplete transaction: one read and one write per endpoint.
func recordHealth(w *wtx, applied []*herald.DeliveryResult) error {
	if len(applied) == 0 {
		return nil
	}
	opApp, err := operationalAppID(w)
	if err != nil {
		return err
	}
	byEndpoint := map[string]*herald.EndpointHealth{}
	var order []string
	for _, r := range applied {
		a := &r.Attempt
		h, ok := byEndpoint[a.EndpointID]
		if !ok {
			loaded, err := loadHealth(w.ctx, w, a.EndpointID, a.AppID)
			if err != nil {
				return err
			}
			h = &loaded
			byEndpoint[a.EndpointID] = h
			order = append(order, a.EndpointID)
		}
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

// emitAttemptEvent emits a message.attempt.* event about a.
func emitAttemptEvent(w *wtx, opApp, typ string, a *herald.Attempt) error {
	var appUID, eventID sql.NullString
	if err := w.queryRow("SELECT uid FROM applications WHERE id = ?", a.AppID).Scan(&appUID); err != nil && err != sql.ErrNoRows {
		return err
	}
	if err := w.queryRow("SELECT event_id FROM messages WHERE id = ?", a.MsgID).Scan(&eventID); err != nil && err != sql.ErrNoRows {
		return err
	}
	return emitOperational(w, opApp, typ, herald.AttemptEventPayload(typ, appUID.String, eventID.String, a))
}

// emitEndpointEvent emits an endpoint.* event about ep, unless ep belongs to
// the operational application or there is none.
func emitEndpointEvent(w *wtx, typ string, ep *herald.Endpoint, failSince time.Time) error {
	opApp, err := operationalAppID(w)
	if err != nil || opApp == "" || ep.AppID == opApp {
		return err
	}
	var appUID sql.NullString
	if err := w.queryRow("SELECT uid FROM applications WHERE id = ?", ep.AppID).Scan(&appUID); err != nil && err != sql.ErrNoRows {
		return err
	}
	return emitOperational(w, opApp, typ, herald.EndpointEventPayload(typ, appUID.String, ep, failSince))
}

// operationalAppID returns the ID of the operational application, "" if
// none was made (no operational endpoint was ever registered).
func operationalAppID(w *wtx) (string, error) {
	var id string
	err := w.queryRow("SELECT id FROM applications WHERE uid = ?", herald.OperationalAppUID).Scan(&id)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return id, err
}

// emitOperational writes an operational message of type typ in the
// operational application opApp, with a pending delivery, due now, to
// each of its matching endpoints.
func emitOperational(w *wtx, opApp, typ string, payload json.RawMessage) error {
	now := time.Now()
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: opApp, EventType: typ,
		Payload: payload, PayloadRetentionDays: herald.OperationalRetentionDays, CreatedAt: now}
	targets, err := fanOutTargets(w, msg, nil)
	if err != nil {
		return err
	}
	if _, err := w.exec(insertMessageQuery, msg.ID, opApp, nil, typ, nil, []byte(payload), msg.PayloadRetentionDays,
		ts(now), 0, ts(msg.PayloadExpiry())); err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	ds := make([]herald.Delivery, len(targets))
	for i := range targets {
		ds[i] = herald.Delivery{ID: herald.NewID(herald.PrefixDelivery, now), AppID: opApp, MsgID: msg.ID,
			EndpointID: targets[i].ID, Status: herald.StatusPending, NextAttemptAt: now,
			Trigger: herald.TriggerScheduled, CreatedAt: now, UpdatedAt: now}
		w.due(targets[i].ID, now)
	}
	if len(ds) > 0 {
		w.notify = true
	}
	return insertDeliveries(w, ds)
}

// autoDisableQuery finds enabled endpoints failing for long enough.
const autoDisableQuery = `SELECT ` + endpointColumnsE + `, h.first_failure_at FROM endpoint_health h
	JOIN endpoints e ON e.id = h.endpoint_id
	WHERE h.first_failure_at > 0 AND h.disabled_at = 0 AND h.first_failure_at <= ? AND h.last_failure_at > ?
		AND e.disabled = 0
	ORDER BY h.first_failure_at LIMIT ?`

// EndpointAutoDisable implements herald.HealthStore.
func (s *Store) EndpointAutoDisable(ctx context.Context, p herald.AutoDisableParams) ([]herald.Endpoint, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	var out []herald.Endpoint
	err := s.write(ctx, "auto-disable endpoints", func(w *wtx) error {
		out = nil
		rows, err := w.query(autoDisableQuery, ts(p.FailingSince), ts(p.FailedAfter), p.Limit)
		if err != nil {
			return err
		}
		type found struct {
			ep    herald.Endpoint
			since time.Time
		}
		eps, err := collect(rows, func(sc scanner) (found, error) {
			var first int64
			ep, err := scanEndpoint(s.codec, sc, &first)
			return found{ep, fromTS(first)}, err
		})
		if err != nil {
			return err
		}
		for _, f := range eps {
			ep := f.ep
			reason := fmt.Sprintf(herald.DisabledReasonFailing, f.since.UTC().Format(time.RFC3339))
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
	for i := range out {
		s.handoff.refresh(cloneEndpoint(&out[i]))
	}
	return out, nil
}

// disableEndpoint marks ep disabled at now for reason.
func disableEndpoint(w *wtx, ep *herald.Endpoint, now time.Time, reason string) error {
	w.w.fanOut.forget(ep.AppID)
	if _, err := w.exec("UPDATE endpoints SET disabled = 1, updated_at = ? WHERE id = ?", ts(now), ep.ID); err != nil {
		return err
	}
	if _, err := w.exec("UPDATE endpoint_health SET disabled_at = ?, disabled_reason = ? WHERE endpoint_id = ?",
		ts(now), reason, ep.ID); err != nil {
		return err
	}
	ep.Disabled, ep.UpdatedAt, ep.DisabledReason = true, now, reason
	at := now
	ep.DisabledAt = &at
	return nil
}

// updateHealthState writes the disabled state of an endpoint being
// updated, given whether it was disabled before: a newly disabled one
// gets DisabledAt and DisabledReason (manual unless set), an enabled one
// loses its health (a new start) and emits endpoint.enabled.
func updateHealthState(w *wtx, ep *herald.Endpoint, wasDisabled bool) error {
	switch {
	case ep.Disabled && !wasDisabled:
		h, err := loadHealth(w.ctx, w, ep.ID, ep.AppID)
		if err != nil {
			return err
		}
		h.Disable(ep)
		return saveHealth(w, &h)
	case !ep.Disabled && wasDisabled:
		ep.DisabledAt, ep.DisabledReason = nil, ""
		if _, err := w.exec("DELETE FROM endpoint_health WHERE endpoint_id = ?", ep.ID); err != nil {
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
	rows, err := q.QueryContext(ctx, "SELECT endpoint_id, disabled_at, disabled_reason FROM endpoint_health "+
		"WHERE disabled_at > 0 AND endpoint_id IN (SELECT value FROM json_each(?))", jsonIDs(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	got := map[string]herald.EndpointHealth{}
	for rows.Next() {
		var h herald.EndpointHealth
		var at int64
		if err := rows.Scan(&h.EndpointID, &at, &h.DisabledReason); err != nil {
			return err
		}
		h.DisabledAt = fromTS(at)
		got[h.EndpointID] = h
	}
	for i := range eps {
		if h, ok := got[eps[i].ID]; ok {
			at := h.DisabledAt
			eps[i].DisabledAt, eps[i].DisabledReason = &at, h.DisabledReason
		}
	}
	return rows.Err()
}
