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

const messageColumns = "m.id, m.app_id, m.event_id, m.event_type, m.channels, m.payload, m.payload_retention_days, m.created_at, " +
	"m.deliver_at, m.payload_expires_at"

var errEventIDTaken = herald.Errorf(herald.EConflict, "A message with this eventId already exists")

// messageRow receives the columns of messageColumns.
type messageRow struct {
	m       herald.Message
	eventID *string
	payload []byte
	deliver *time.Time
}

// dest returns the scan destinations, in messageColumns order.
func (r *messageRow) dest() []any {
	m := &r.m
	return []any{&m.ID, &m.AppID, &r.eventID, &m.EventType, &m.Channels, &r.payload, &m.PayloadRetentionDays, &m.CreatedAt,
		&r.deliver, &m.PayloadExpiresAt}
}

// message decodes the scanned columns.
func (r *messageRow) message() herald.Message {
	m := r.m
	m.EventID = fromNullStr(r.eventID)
	if r.payload != nil {
		m.Payload = json.RawMessage(r.payload)
	}
	m.CreatedAt = fromTS(m.CreatedAt)
	m.PayloadExpiresAt = fromTS(m.PayloadExpiresAt)
	m.DeliverAt = fromTSPtr(r.deliver)
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

// createMessageQuery writes a message and its deliveries in one
// statement. It selects the endpoints the message goes to, in ID order:
// those of application $2 for which herald.EndpointMatches holds (not
// disabled, no event type filter or one listing $4, no channel filter or
// one sharing a channel with $5), or, when $10 is not NULL, exactly those
// of the application listed in $10. Their deliveries take the IDs in $9,
// in order; when $9 holds too few, nothing is written and the statement
// reports how many it needs. The deliveries are due at $13 (the message's
// DueAt); $14 and $15 are its deliverAt and payload expiry. It returns the
// number of endpoints selected, whether the message was written, and the
// selected endpoints' IDs.
const createMessageQuery = `WITH e AS (
		SELECT id, row_number() OVER (ORDER BY id) AS n FROM endpoints
		WHERE app_id = $2 AND CASE WHEN $10::text[] IS NULL THEN
			NOT disabled
			AND (coalesce(cardinality(event_types), 0) = 0 OR $4::text = ANY(event_types))
			AND (coalesce(cardinality(channels), 0) = 0 OR channels && $5::text[])
		ELSE id = ANY($10::text[]) END),
	fit AS (SELECT count(*) AS need, count(*) <= cardinality($9::text[]) AS ok FROM e),
	m AS (
		INSERT INTO messages (id, app_id, event_id, event_type, channels, payload, payload_retention_days, created_at,
			deliver_at, payload_expires_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $14, $15 FROM fit WHERE fit.ok
		RETURNING id),
	d AS (
		INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, next_attempt_at, lease_until,
			trigger_type, created_at, updated_at)
		SELECT ($9::text[])[e.n], $2, m.id, e.id, $11, 0, $13, NULL, $12, $8, $8
		FROM m, e)
	SELECT fit.need, fit.ok, coalesce((SELECT array_agg(id ORDER BY n) FROM e), '{}') FROM fit`

// maxFanOutRounds bounds how many times MessageCreate runs again because
// the application gained endpoints between its rounds.
const maxFanOutRounds = 5

// MessageCreate implements herald.MessageStore: the message and its
// deliveries are written by one statement (createMessageQuery), pipelined
// with the other operations of its batch. The delivery IDs are made
// beforehand, as many as the application's last message needed (see
// fanOutHint); should the fan-out need more, the statement writes nothing
// and runs again with as many as it reported.
func (s *Store) MessageCreate(ctx context.Context, msg *herald.Message, only []string) ([]herald.Delivery, error) {
	n := s.fanOutHint(msg.AppID)
	if only != nil {
		n = len(only)
	}
	for range maxFanOutRounds {
		ids := make([]string, n)
		now := time.Now()
		for i := range ids {
			ids[i] = herald.NewID(herald.PrefixDelivery, now)
		}
		var (
			need    int64
			written bool
			targets []string
		)
		var op *pipeOp
		op = &pipeOp{
			stmts: []stmt{{sql: createMessageQuery, args: []any{msg.ID, msg.AppID, nullStr(msg.EventID), msg.EventType,
				textArray(msg.Channels), bytesArg(msg.Payload), msg.PayloadRetentionDays, msg.CreatedAt,
				ids, textArray(only), int(herald.StatusPending), int(herald.TriggerScheduled),
				msg.DueAt(), tsPtr(msg.DeliverAt), msg.PayloadExpiry()},
				read: func(rows pgx.Rows) error {
					need, written, targets = 0, false, nil
					if !rows.Next() {
						return errors.New("no result row")
					}
					err := rows.Scan(&need, &written, &targets)
					op.notify = written && len(targets) > 0
					return err
				}}},
			mapErr: func(err error) error { return messageInsertErr(err, msg) },
		}
		if err := s.writePipe(ctx, "create message", op); err != nil {
			return nil, err
		}
		if only == nil {
			s.setFanOutHint(msg.AppID, int(need))
		}
		if !written {
			n = int(need)
			continue
		}
		ds := make([]herald.Delivery, len(targets))
		for i, epID := range targets {
			ds[i] = herald.Delivery{
				ID: ids[i], AppID: msg.AppID, MsgID: msg.ID, EndpointID: epID,
				Status: herald.StatusPending, NextAttemptAt: msg.DueAt(), Trigger: herald.TriggerScheduled,
				CreatedAt: msg.CreatedAt, UpdatedAt: msg.CreatedAt,
			}
		}
		return ds, nil
	}
	return nil, errRetry
}

// messageInsertErr maps the errors of createMessageQuery: a taken ID or
// eventId is EConflict; a missing application ENotFound; an endpoint
// deleted since the statement selected it makes the transaction run again.
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

// MessageExpungeContent implements herald.MessageStore: the payload goes
// and the message's pending deliveries end as failed, in one transaction.
// The message's row is updated first: a resend or replay holding it (see
// messageSendable) has committed by then, and the second statement, which
// reads anew, sees the deliveries it queued.
func (s *Store) MessageExpungeContent(ctx context.Context, appID, msgID string) error {
	return s.write(ctx, "expunge message content", func(w *wtx) error {
		tag, err := w.exec("UPDATE messages SET payload = NULL WHERE id = $1 AND app_id = $2", msgID, appID)
		if err := affectedOrNotFound(tag, err, errMessageNotFound); err != nil {
			return err
		}
		_, err = w.exec(`UPDATE deliveries SET status = $1, lease_until = NULL, updated_at = $2
			WHERE msg_id = $3 AND status = `+sqlPending, int(herald.StatusFail), time.Now(), msgID)
		return err
	})
}
