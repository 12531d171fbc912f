package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const messageColumns = "m.id, m.app_id, m.event_id, m.event_type, m.channels, m.payload, m.payload_retention_days, m.created_at"

var errEventIDTaken = herald.Errorf(herald.EConflict, "A message with this eventId already exists")

// messageRow receives the columns of messageColumns.
type messageRow struct {
	m       herald.Message
	eventID *string
	payload []byte
}

// dest returns the scan destinations, in messageColumns order.
func (r *messageRow) dest() []any {
	m := &r.m
	return []any{&m.ID, &m.AppID, &r.eventID, &m.EventType, &m.Channels, &r.payload, &m.PayloadRetentionDays, &m.CreatedAt}
}

// message decodes the scanned columns.
func (r *messageRow) message() herald.Message {
	m := r.m
	m.EventID = fromNullStr(r.eventID)
	if r.payload != nil {
		m.Payload = json.RawMessage(r.payload)
	}
	m.CreatedAt = fromTS(m.CreatedAt)
	return m
}

// scanMessage scans messageColumns, then extra.
func scanMessage(sc scanner, extra ...any) (herald.Message, error) {
	var r messageRow
	if err := sc.Scan(append(r.dest(), extra...)...); err != nil {
		return r.m, err
	}
	return r.message(), nil
}

func scanMessageRow(sc scanner) (herald.Message, error) { return scanMessage(sc) }

// messageFilter returns the conditions of f on the messages aliased m,
// adding their arguments to a; the time bounds apply to timeCol (the
// message's or an attempt's created_at).
func messageFilter(f herald.MessageFilter, timeCol string, a *args) string {
	var b strings.Builder
	if len(f.EventTypes) > 0 {
		b.WriteString(" AND m.event_type = ANY(" + a.add(f.EventTypes) + "::text[])")
	}
	if f.Channel != "" {
		b.WriteString(" AND " + a.add(f.Channel) + "::text = ANY(m.channels)")
	}
	if f.Before != nil {
		b.WriteString(" AND " + timeCol + " < " + a.add(*f.Before))
	}
	if f.After != nil {
		b.WriteString(" AND " + timeCol + " > " + a.add(*f.After))
	}
	return b.String()
}

// insertMessageQuery inserts a message and its deliveries (IDs and
// endpoints in two parallel arrays) in one statement.
const insertMessageQuery = `WITH m AS (
		INSERT INTO messages (id, app_id, event_id, event_type, channels, payload, payload_retention_days, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id)
	INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, lease_until,
		trigger_type, created_at, updated_at)
	SELECT d.id, $2, m.id, d.endpoint_id, $11, 0, $8, NULL, $12, $8, $8
	FROM m, unnest($9::text[], $10::text[]) AS d (id, endpoint_id)`

// MessageCreate implements herald.MessageStore: the message and its
// deliveries are written by one statement of one transaction.
func (s *Store) MessageCreate(ctx context.Context, msg *herald.Message, only []string) ([]herald.Delivery, error) {
	var out []herald.Delivery
	err := s.write(ctx, "create message", func(w *wtx) error {
		out = nil
		targets, err := fanOutTargets(w, msg, only)
		if err != nil {
			return err
		}
		ds := make([]herald.Delivery, 0, len(targets))
		ids := make([]string, 0, len(targets))
		now := time.Now()
		for _, epID := range targets {
			d := herald.Delivery{
				ID: herald.NewID(herald.PrefixDelivery, now), AppID: msg.AppID, MsgID: msg.ID, EndpointID: epID,
				Status: herald.StatusPending, NextAttemptAt: msg.CreatedAt, Trigger: herald.TriggerScheduled,
				CreatedAt: msg.CreatedAt, UpdatedAt: msg.CreatedAt,
			}
			ds = append(ds, d)
			ids = append(ids, d.ID)
		}
		_, err = w.exec(insertMessageQuery, msg.ID, msg.AppID, nullStr(msg.EventID), msg.EventType,
			textArray(msg.Channels), bytesArg(msg.Payload), msg.PayloadRetentionDays, msg.CreatedAt,
			ids, targets, int(herald.StatusPending), int(herald.TriggerScheduled))
		if err != nil {
			return messageInsertErr(err, msg)
		}
		out = ds
		w.notify = len(ds) > 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// messageInsertErr maps the errors of insertMessageQuery: a taken ID or
// eventId is EConflict; a missing application ENotFound; an endpoint
// deleted since the fan-out read its list makes the transaction run again.
func messageInsertErr(err error, msg *herald.Message) error {
	var pgErr *pgconn.PgError
	switch {
	case isUnique(err) && msg.EventID != "":
		return errEventIDTaken
	case isUnique(err):
		return herald.Errorf(herald.EConflict, "A message with this ID already exists")
	case isForeignKey(err) && errors.As(err, &pgErr) && pgErr.TableName == "deliveries":
		return errRetry
	case isForeignKey(err):
		return errAppNotFound
	}
	return err
}

// fanOutTargets returns the IDs of the endpoints msg goes to, in ID order:
// those for which herald.EndpointMatches holds, or exactly the listed ones
// of the application when only is non-nil. (A nil list means no
// deliveries.)
func fanOutTargets(w *wtx, msg *herald.Message, only []string) ([]string, error) {
	scanID := func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}
	if only != nil {
		if len(only) == 0 {
			return nil, nil
		}
		return queryAll(w.ctx, w.tx, scanID,
			"SELECT id FROM endpoints WHERE app_id = $1 AND id = ANY($2::text[]) ORDER BY id", msg.AppID, only)
	}
	eps, err := queryAll(w.ctx, w.tx, func(sc scanner) (herald.Endpoint, error) {
		var e herald.Endpoint
		return e, sc.Scan(&e.ID, &e.EventTypes, &e.Channels, &e.Disabled)
	}, "SELECT id, event_types, channels, disabled FROM endpoints WHERE app_id = $1 ORDER BY id", msg.AppID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := range eps {
		if herald.EndpointMatches(&eps[i], msg.EventType, msg.Channels) {
			ids = append(ids, eps[i].ID)
		}
	}
	return ids, nil
}

// MessageGet implements herald.MessageStore. An ID match wins over an
// eventId match.
func (s *Store) MessageGet(ctx context.Context, appID, key string) (*herald.Message, error) {
	var msg herald.Message
	err := s.read(ctx, "get message", func(q querier) error {
		var err error
		msg, err = scanMessage(q.QueryRow(ctx, "SELECT "+messageColumns+
			" FROM messages m WHERE m.app_id = $1 AND (m.id = $2 OR m.event_id = $2) ORDER BY m.id = $2 DESC LIMIT 1",
			appID, key))
		if errors.Is(err, pgx.ErrNoRows) {
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
	a := args{appID}
	cond, dir := pageBounds("m.id", p, &a)
	cond += messageFilter(f, "m.created_at", &a)
	query := "SELECT " + messageColumns + " FROM messages m WHERE m.app_id = $1" + cond +
		" ORDER BY m.id " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.Message
	err := s.read(ctx, "list messages", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		var err error
		rows, err = queryAll(ctx, q, scanMessageRow, query, a...)
		return err
	})
	if err != nil {
		return herald.Page[herald.Message]{}, err
	}
	return herald.MakePage(rows, p, func(m herald.Message) string { return m.ID }), nil
}

// MessageExpungeContent implements herald.MessageStore.
func (s *Store) MessageExpungeContent(ctx context.Context, appID, msgID string) error {
	return s.write(ctx, "expunge message content", func(w *wtx) error {
		tag, err := w.exec("UPDATE messages SET payload = NULL WHERE id = $1 AND app_id = $2", msgID, appID)
		return affectedOrNotFound(tag, err, errMessageNotFound)
	})
}
