package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

var errConsumerNotFound = herald.Errorf(herald.ENotFound, "Consumer not found")

// pollFilter returns the conditions of p's filters on the messages aliased
// m, and their arguments.
func pollFilter(p herald.PollParams) (string, []any) {
	var b strings.Builder
	var args []any
	if len(p.EventTypes) > 0 {
		b.WriteString(" AND m.event_type IN (SELECT value FROM json_each(?))")
		args = append(args, jsonIDs(p.EventTypes))
	}
	if len(p.Channels) > 0 {
		b.WriteString(" AND EXISTS (SELECT 1 FROM json_each(m.channels) c WHERE c.value IN (SELECT value FROM json_each(?)))")
		args = append(args, jsonIDs(p.Channels))
	}
	if p.EventType != "" {
		b.WriteString(" AND m.event_type = ?")
		args = append(args, p.EventType)
	}
	if p.Channel != "" {
		b.WriteString(" AND EXISTS (SELECT 1 FROM json_each(m.channels) c WHERE c.value = ?)")
		args = append(args, p.Channel)
	}
	return b.String(), args
}

// streamHead returns the position of the application's last message, and
// false when it has none.
func streamHead(ctx context.Context, q querier, appID string) (herald.PollPosition, bool, error) {
	var head herald.PollPosition
	err := q.QueryRowContext(ctx, "SELECT seq, id FROM messages WHERE app_id = ? ORDER BY seq DESC, id DESC LIMIT 1",
		appID).Scan(&head.Seq, &head.MsgID)
	if err == sql.ErrNoRows {
		return head, false, nil
	}
	return head, err == nil, err
}

// MessagePoll implements herald.PollStore. The head of the stream is read
// first and bounds the page, so that Next never passes a message the page
// did not see (the reads share no snapshot).
func (s *Store) MessagePoll(ctx context.Context, appID string, p herald.PollParams) (herald.PollPage, error) {
	page := herald.PollPage{Next: p.After, Done: true}
	fcond, fargs := pollFilter(p)
	err := s.read(ctx, "poll messages", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		head, ok, err := streamHead(ctx, q, appID)
		if err != nil || !ok || !p.After.Less(head) {
			return err
		}
		args := append([]any{appID, p.After.Seq, p.After.MsgID, head.Seq, head.MsgID}, fargs...)
		r, err := q.QueryContext(ctx, "SELECT "+messageColumns+", m.seq FROM messages m WHERE m.app_id = ?"+
			" AND (m.seq, m.id) > (?, ?) AND (m.seq, m.id) <= (?, ?)"+fcond+
			" ORDER BY m.seq, m.id LIMIT ?", append(args, p.Limit+1)...)
		if err != nil {
			return err
		}
		rows, err := collect(r, scanPolled)
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
// first message, in stream order, of those created at t or later. Messages that
// commit later get a greater seq than any stored, so they come after it.
func (s *Store) MessagePollSeek(ctx context.Context, appID string, t time.Time) (herald.PollPosition, error) {
	bound := herald.IDAt(herald.PrefixMessage, t)
	pos := herald.PollPosition{MsgID: bound}
	err := s.read(ctx, "seek messages", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		var first, last sql.NullInt64
		err := q.QueryRowContext(ctx, "SELECT (SELECT min(seq) FROM messages WHERE app_id = ?1 AND id >= ?2),"+
			" (SELECT max(seq) FROM messages WHERE app_id = ?1)", appID, bound).Scan(&first, &last)
		switch {
		case err != nil:
			return err
		case first.Valid:
			pos.Seq = first.Int64
		default:
			pos.Seq = last.Int64 + 1
		}
		return nil
	})
	return pos, err
}

// PollConsumerGet implements herald.PollStore.
func (s *Store) PollConsumerGet(ctx context.Context, appID, endpointID, consumerID string) (*herald.PollConsumer, error) {
	c := herald.PollConsumer{AppID: appID, EndpointID: endpointID, ConsumerID: consumerID}
	err := s.read(ctx, "get poll consumer", func(q querier) error {
		var updated int64
		err := q.QueryRowContext(ctx, "SELECT seq, msg_id, updated_at FROM poll_consumers"+
			" WHERE endpoint_id = ? AND consumer_id = ? AND app_id = ?", endpointID, consumerID, appID).
			Scan(&c.Position.Seq, &c.Position.MsgID, &updated)
		if err == sql.ErrNoRows {
			return errConsumerNotFound
		}
		c.UpdatedAt = fromTS(updated)
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
		res, err := w.exec(`INSERT INTO poll_consumers (endpoint_id, consumer_id, app_id, seq, msg_id, updated_at)
			SELECT id, ?, app_id, ?, ?, ? FROM endpoints WHERE id = ? AND app_id = ?
			ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET seq = excluded.seq, msg_id = excluded.msg_id,
			updated_at = excluded.updated_at`,
			c.ConsumerID, c.Position.Seq, c.Position.MsgID, ts(c.UpdatedAt), c.EndpointID, c.AppID)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errEndpointNotFound)
		}
		return nil
	})
}
