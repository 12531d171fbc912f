package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

var errConsumerNotFound = herald.Errorf(herald.ENotFound, "Consumer not found")

// readableSeq is the first seq that a poll may not read yet: the xmin of
// the statement's snapshot. Every transaction with a smaller ID has ended,
// and every one still to commit has an ID at least this, so messages below
// it are all there is below it, now and later (see the polling-order ADR).
const readableSeq = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

// pollFilter returns the conditions of p's filters on the messages aliased
// m, adding their arguments to a.
func pollFilter(p herald.PollParams, a *args) string {
	var b strings.Builder
	if len(p.EventTypes) > 0 {
		b.WriteString(" AND m.event_type = ANY(" + a.add(p.EventTypes) + "::text[])")
	}
	if len(p.Channels) > 0 {
		b.WriteString(" AND m.channels && " + a.add(p.Channels) + "::text[]")
	}
	if p.EventType != "" {
		b.WriteString(" AND m.event_type = " + a.add(p.EventType) + "::text")
	}
	if p.Channel != "" {
		b.WriteString(" AND " + a.add(p.Channel) + "::text = ANY(m.channels)")
	}
	return b.String()
}

// streamHead returns the position of the application's last readable
// message, and false when it has none.
func streamHead(ctx context.Context, q querier, appID string) (herald.PollPosition, bool, error) {
	var head herald.PollPosition
	err := q.QueryRow(ctx, "SELECT seq, id FROM messages WHERE app_id = $1 AND seq < "+readableSeq+
		" ORDER BY seq DESC, id DESC LIMIT 1", appID).Scan(&head.Seq, &head.MsgID)
	if errors.Is(err, pgx.ErrNoRows) {
		return head, false, nil
	}
	return head, err == nil, err
}

// MessagePoll implements herald.PollStore. The head of the readable
// stream is read first and bounds the page: every message up to it had
// committed when the head was read, so the page sees all of them.
func (s *Store) MessagePoll(ctx context.Context, appID string, p herald.PollParams) (herald.PollPage, error) {
	page := herald.PollPage{Next: p.After, Done: true}
	err := s.read(ctx, "poll messages", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		head, ok, err := streamHead(ctx, q, appID)
		if err != nil || !ok || !p.After.Less(head) {
			return err
		}
		a := args{appID, p.After.Seq, p.After.MsgID, head.Seq, head.MsgID}
		query := "SELECT " + messageColumns + ", m.seq FROM messages m WHERE m.app_id = $1" +
			" AND (m.seq, m.id) > ($2, $3::text) AND (m.seq, m.id) <= ($4, $5::text)" + pollFilter(p, &a) +
			" ORDER BY m.seq, m.id LIMIT " + a.add(p.Limit+1)
		rows, err := queryAll(ctx, q, scanPolled, query, a...)
		if err != nil {
			return err
		}
		page = herald.NewPollPage(rows, p.Limit, head)
		return nil
	})
	return page, err
}

// scanPolled scans a message read by a poll, with its seq.
func scanPolled(sc scanner) (herald.PolledMessage, error) {
	var p herald.PolledMessage
	var err error
	p.Message, err = scanMessage(sc, &p.Seq)
	return p, err
}

// MessagePollSeek implements herald.PollStore: the position before the
// first readable message, in stream order, of those created at t or later, and
// never past the readable horizon, since a transaction still running may
// commit such a message with any seq from the horizon on.
func (s *Store) MessagePollSeek(ctx context.Context, appID string, t time.Time) (herald.PollPosition, error) {
	bound := herald.IDAt(herald.PrefixMessage, t)
	pos := herald.PollPosition{MsgID: bound}
	err := s.read(ctx, "seek messages", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		return q.QueryRow(ctx, "SELECT least((SELECT min(seq) FROM messages WHERE app_id = $1 AND id >= $2::text), "+
			readableSeq+")", appID, bound).Scan(&pos.Seq)
	})
	return pos, err
}

// PollConsumerGet implements herald.PollStore.
func (s *Store) PollConsumerGet(ctx context.Context, appID, endpointID, consumerID string) (*herald.PollConsumer, error) {
	c := herald.PollConsumer{AppID: appID, EndpointID: endpointID, ConsumerID: consumerID}
	err := s.read(ctx, "get poll consumer", func(q querier) error {
		err := q.QueryRow(ctx, "SELECT seq, msg_id, updated_at FROM poll_consumers"+
			" WHERE endpoint_id = $1 AND consumer_id = $2 AND app_id = $3", endpointID, consumerID, appID).
			Scan(&c.Position.Seq, &c.Position.MsgID, &c.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return errConsumerNotFound
		}
		c.UpdatedAt = fromTS(c.UpdatedAt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// PollConsumerSet implements herald.PollStore.
func (s *Store) PollConsumerSet(ctx context.Context, c *herald.PollConsumer) error {
	return s.write(ctx, "set poll consumer", func(w *wtx) error {
		tag, err := w.exec(`INSERT INTO poll_consumers (endpoint_id, consumer_id, app_id, seq, msg_id, updated_at)
			SELECT id, $1, app_id, $2, $3, $4 FROM endpoints WHERE id = $5 AND app_id = $6
			ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET seq = excluded.seq, msg_id = excluded.msg_id,
			updated_at = excluded.updated_at`,
			c.ConsumerID, c.Position.Seq, c.Position.MsgID, c.UpdatedAt, c.EndpointID, c.AppID)
		return affectedOrNotFound(tag, err, errEndpointNotFound)
	})
}
