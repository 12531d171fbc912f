package sqlite

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// nextAttempt is the NextAttemptAt shown for a delivery: set only while it
// is pending.
func nextAttempt(status herald.MessageStatus, at int64) *time.Time {
	if status != herald.StatusPending {
		return nil
	}
	t := fromTS(at)
	return &t
}

// EndpointMessageList implements herald.AttemptStore. The filter's time
// bounds apply to the message's time. ENotFound if the endpoint does not
// exist in the application.
func (s *Store) EndpointMessageList(ctx context.Context, appID, endpointID string, f herald.MessageFilter,
	status *herald.MessageStatus, p herald.ListParams) (herald.Page[herald.EndpointMessage], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("d.msg_id", p)
	fcond, fargs := messageFilter(f, "m.created_at")
	if status != nil {
		fcond += " AND d.status = ?"
		fargs = append(fargs, int(*status))
	}
	var rows []herald.EndpointMessage
	err := s.read(ctx, "list endpoint messages", func(q querier) error {
		if err := endpointExists(ctx, q, appID, endpointID); err != nil {
			return err
		}
		all := append(append(append([]any{endpointID}, args...), fargs...), p.Limit+1)
		r, err := q.QueryContext(ctx, "SELECT "+messageColumns+`, d.status, d.next_attempt_at
			FROM deliveries d JOIN messages m ON m.id = d.msg_id
			WHERE d.endpoint_id = ?`+cond+fcond+" ORDER BY d.msg_id "+dir+" LIMIT ?", all...)
		if err != nil {
			return err
		}
		rows, err = collect(r, func(sc scanner) (herald.EndpointMessage, error) {
			var em herald.EndpointMessage
			var next int64
			var err error
			em.Message, err = scanMessage(sc, &em.Status, &next)
			em.NextAttemptAt = nextAttempt(em.Status, next)
			return em, err
		})
		return err
	})
	if err != nil {
		return herald.Page[herald.EndpointMessage]{}, err
	}
	return herald.MakePage(rows, p, func(em herald.EndpointMessage) string { return em.Message.ID }), nil
}

// MessageEndpointList implements herald.AttemptStore. ENotFound if the
// message does not exist in the application.
func (s *Store) MessageEndpointList(ctx context.Context, appID, msgID string, p herald.ListParams) (herald.Page[herald.MessageEndpoint], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("d.endpoint_id", p)
	var rows []herald.MessageEndpoint
	err := s.read(ctx, "list message endpoints", func(q querier) error {
		if err := messageExists(ctx, q, appID, msgID); err != nil {
			return err
		}
		all := append(append([]any{msgID}, args...), p.Limit+1)
		r, err := q.QueryContext(ctx, "SELECT "+endpointColumnsE+`, d.status, d.next_attempt_at
			FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
			WHERE d.msg_id = ?`+cond+" ORDER BY d.endpoint_id "+dir+" LIMIT ?", all...)
		if err != nil {
			return err
		}
		rows, err = collect(r, func(sc scanner) (herald.MessageEndpoint, error) {
			var me herald.MessageEndpoint
			var next int64
			var err error
			me.Endpoint, err = scanEndpoint(s.codec, sc, &me.Status, &next)
			me.NextAttemptAt = nextAttempt(me.Status, next)
			return me, err
		})
		return err
	})
	if err != nil {
		return herald.Page[herald.MessageEndpoint]{}, err
	}
	return herald.MakePage(rows, p, func(me herald.MessageEndpoint) string { return me.Endpoint.ID }), nil
}
