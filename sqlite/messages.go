package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

const messageColumns = "m.id, m.app_id, m.event_id, m.event_type, m.channels, m.payload, m.payload_retention_days, m.created_at, " +
	"m.deliver_at, m.payload_expires_at"

var errEventIDTaken = herald.Errorf(herald.EConflict, "A message with this eventId already exists")

func scanMessage(sc scanner, extra ...any) (herald.Message, error) {
	var (
		m        herald.Message
		eventID  sql.NullString
		channels sql.NullString
		payload  []byte
		created  int64
		deliver  int64
		expires  int64
	)
	dest := append([]any{&m.ID, &m.AppID, &eventID, &m.EventType, &channels, &payload, &m.PayloadRetentionDays, &created,
		&deliver, &expires}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return m, err
	}
	m.EventID = eventID.String
	if payload != nil {
		m.Payload = json.RawMessage(payload)
	}
	m.CreatedAt = fromTS(created)
	m.PayloadExpiresAt = fromTS(expires)
	if deliver != 0 {
		at := fromTS(deliver)
		m.DeliverAt = &at
	}
	return m, fromJSON(channels, &m.Channels)
}

// messageFilter returns the conditions of f on the messages aliased m; the
// time bounds apply to timeCol (the message's or an attempt's created_at).
func messageFilter(f herald.MessageFilter, timeCol string) (string, []any) {
	var b strings.Builder
	var args []any
	if len(f.EventTypes) > 0 {
		b.WriteString(" AND m.event_type IN (SELECT value FROM json_each(?))")
		args = append(args, jsonIDs(f.EventTypes))
	}
	if f.Channel != "" {
		b.WriteString(" AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE json_each.value = ?)")
		args = append(args, f.Channel)
	}
	if f.Before != nil {
		b.WriteString(" AND " + timeCol + " < ?")
		args = append(args, f.Before.UnixNano())
	}
	if f.After != nil {
		b.WriteString(" AND " + timeCol + " > ?")
		args = append(args, f.After.UnixNano())
	}
	return b.String(), args
}

// insertMessageQuery inserts a message, giving it the next seq of its
// application: the writer runs one operation at a time, so seq order is
// commit order (see poll.go).
const insertMessageQuery = `INSERT INTO messages (id, app_id, event_id, event_type, channels, payload,
	payload_retention_days, created_at, deliver_at, payload_expires_at, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
	?9, ?10, (SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE app_id = ?2))`

// MessageCreate implements herald.MessageStore: the message and its
// deliveries are written by one operation of one transaction. With
// Config.ClaimOnCreate, deliveries may be written already claimed and
// handed to the engine in memory (see handoff); they are then returned
// with status sending.
func (s *Store) MessageCreate(ctx context.Context, msg *herald.Message, only []string) ([]herald.Delivery, error) {
	channels, err := jsonText(msg.Channels)
	if err != nil {
		return nil, err
	}
	var payload any
	if msg.Payload != nil {
		payload = []byte(msg.Payload)
	}
	var out []herald.Delivery
	var jobs []herald.DeliveryJob
	err = s.write(ctx, "create message", func(w *wtx) error {
		out, jobs = nil, nil
		targets, err := fanOutTargets(w, msg, only)
		if err != nil {
			return err
		}
		_, err = w.exec(insertMessageQuery,
			msg.ID, msg.AppID, nullStr(msg.EventID), msg.EventType, channels, payload, msg.PayloadRetentionDays,
			ts(msg.CreatedAt), deliverTS(msg.DeliverAt), ts(msg.PayloadExpiry()))
		if isUnique(err) {
			if msg.EventID != "" {
				return errEventIDTaken
			}
			return herald.Errorf(herald.EConflict, "A message with this ID already exists")
		}
		if isForeignKey(err) { // the application does not exist
			return errAppNotFound
		}
		if err != nil {
			return err
		}
		out, jobs = s.newDeliveries(w, msg, targets)
		if err := insertDeliveries(w, out); err != nil {
			return err
		}
		w.notify = len(out) > len(jobs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(jobs) > 0 {
		s.handoff.push(jobs)
		s.signal()
	}
	return out, nil
}

// newDeliveries makes the message's deliveries to targets: claimed on
// create where the hand-off allows (returned as jobs too), pending and due
// at msg.DueAt() otherwise (noted as due). It runs inside the write
// operation.
func (s *Store) newDeliveries(w *wtx, msg *herald.Message, targets []herald.Endpoint) ([]herald.Delivery, []herald.DeliveryJob) {
	out := make([]herald.Delivery, 0, len(targets))
	var jobs []herald.DeliveryJob
	now := time.Now()
	due := msg.DueAt()
	var pl plan // a scheduled delivery waits in the table, not in memory
	if !due.After(msg.CreatedAt) {
		pl = s.handoff.planFor(msg.CreatedAt)
	}
	taken := map[string]int{}
	for i := range targets {
		d := herald.Delivery{
			ID: herald.NewID(herald.PrefixDelivery, now), AppID: msg.AppID, MsgID: msg.ID, EndpointID: targets[i].ID,
			Status: herald.StatusPending, NextAttemptAt: due, Trigger: herald.TriggerScheduled,
			CreatedAt: msg.CreatedAt, UpdatedAt: msg.CreatedAt,
		}
		if pl.take(d.EndpointID, taken) {
			d.Status, d.LeaseUntil = herald.StatusSending, pl.lease
			jobs = append(jobs, herald.DeliveryJob{Delivery: d, Message: *msg, Endpoint: targets[i]})
		} else {
			w.due(d.EndpointID, d.NextAttemptAt)
		}
		out = append(out, d)
	}
	return out, jobs
}

// fanOutTargets returns the endpoints msg goes to: the matching ones, or
// exactly the listed ones of the application when only is non-nil.
func fanOutTargets(w *wtx, msg *herald.Message, only []string) ([]herald.Endpoint, error) {
	if only != nil && len(only) == 0 {
		return nil, nil
	}
	eps, err := fanOutEndpoints(w, msg.AppID)
	if err != nil {
		return nil, err
	}
	var out []herald.Endpoint
	for i := range eps {
		if only != nil && slices.Contains(only, eps[i].ID) ||
			only == nil && herald.EndpointMatches(&eps[i], msg.EventType, msg.Channels) {
			out = append(out, eps[i])
		}
	}
	return out, nil
}

// fanOutEndpoints returns every endpoint of the application, ordered by
// ID, from the writer's fan-out cache or else from the endpoints table.
// Callers must not modify them.
func fanOutEndpoints(w *wtx, appID string) ([]herald.Endpoint, error) {
	if eps, ok := w.w.fanOut.get(appID); ok {
		return eps, nil
	}
	rows, err := w.query("SELECT "+endpointColumns+" FROM endpoints WHERE app_id = ? ORDER BY id", appID)
	if err != nil {
		return nil, err
	}
	eps, err := collect(rows, endpointScanner(w.w.codec))
	if err != nil {
		return nil, err
	}
	w.w.fanOut.put(appID, eps)
	return eps, nil
}

// insertDeliveryQuery inserts one delivery; the writer prepares it once.
const insertDeliveryQuery = `INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts,
	next_attempt_at, lease_until, trigger_type, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertDeliveries inserts ds.
func insertDeliveries(w *wtx, ds []herald.Delivery) error {
	for _, d := range ds {
		_, err := w.exec(insertDeliveryQuery, d.ID, d.AppID, d.MsgID, d.EndpointID, int(d.Status), d.Attempts,
			ts(d.NextAttemptAt), ts(d.LeaseUntil), int(d.Trigger), ts(d.CreatedAt), ts(d.UpdatedAt))
		if err != nil {
			return err
		}
	}
	return nil
}

// MessageGet implements herald.MessageStore.
func (s *Store) MessageGet(ctx context.Context, appID, key string) (*herald.Message, error) {
	var msg herald.Message
	err := s.read(ctx, "get message", func(q querier) error {
		var err error
		msg, err = scanMessage(q.QueryRowContext(ctx, "SELECT "+messageColumns+
			" FROM messages m WHERE m.app_id = ? AND (m.id = ? OR m.event_id = ?) ORDER BY m.id = ? DESC LIMIT 1",
			appID, key, key, key))
		if err == sql.ErrNoRows {
			return errMessageNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &msg, nil
}

// MessageList implements herald.MessageStore. ENotFound if the application
// does not exist.
func (s *Store) MessageList(ctx context.Context, appID string, f herald.MessageFilter, p herald.ListParams) (herald.Page[herald.Message], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("m.id", p)
	fcond, fargs := messageFilter(f, "m.created_at")
	var rows []herald.Message
	err := s.read(ctx, "list messages", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		all := append(append(append([]any{appID}, args...), fargs...), p.Limit+1)
		r, err := q.QueryContext(ctx, "SELECT "+messageColumns+" FROM messages m WHERE m.app_id = ?"+cond+fcond+
			" ORDER BY m.id "+dir+" LIMIT ?", all...)
		if err != nil {
			return err
		}
		rows, err = collect(r, func(sc scanner) (herald.Message, error) { return scanMessage(sc) })
		return err
	})
	if err != nil {
		return herald.Page[herald.Message]{}, err
	}
	return herald.MakePage(rows, p, func(m herald.Message) string { return m.ID }), nil
}

// MessageExpungeContent implements herald.MessageStore: the payload goes
// and the message's pending deliveries end as failed, in one write.
func (s *Store) MessageExpungeContent(ctx context.Context, appID, msgID string) error {
	return s.write(ctx, "expunge message content", func(w *wtx) error {
		res, err := w.exec("UPDATE messages SET payload = NULL WHERE id = ? AND app_id = ?", msgID, appID)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errMessageNotFound)
		}
		// The due index may keep their endpoints: it holds times no later
		// than the earliest due, and claims correct it.
		_, err = w.exec(`UPDATE deliveries SET status = ?, lease_until = 0, updated_at = ?
			WHERE msg_id = ? AND status = 1`, herald.StatusFail, ts(time.Now()), msgID)
		return err
	})
}

// deliverTS encodes an optional deliverAt: 0 when not set.
func deliverTS(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return ts(*t)
}
