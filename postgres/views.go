package postgres

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// nextAttempt is the NextAttemptAt shown for a delivery: set only while it
// is pending.
func nextAttempt(status herald.MessageStatus, at time.Time) *time.Time {
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
	a := args{endpointID}
	cond, dir := pageBounds("d.msg_id", p, &a)
	cond += messageFilter(f, "m.created_at", &a)
	if status != nil {
		cond += " AND d.status = " + a.add(int(*status))
	}
	query := "SELECT " + messageColumns + `, d.status, d.next_attempt_at
		FROM deliveries d JOIN messages m ON m.id = d.msg_id
		WHERE d.endpoint_id = $1` + cond + " ORDER BY d.msg_id " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.EndpointMessage
	err := s.read(ctx, "list endpoint messages", func(q querier) error {
		if err := endpointExists(ctx, q, appID, endpointID); err != nil {
			return err
		}
		var err error
		rows, err = queryAll(ctx, q, func(sc scanner) (herald.EndpointMessage, error) {
			var em herald.EndpointMessage
			var next time.Time
			var err error
			em.Message, err = scanMessage(sc, &em.Status, &next)
			em.NextAttemptAt = nextAttempt(em.Status, next)
			return em, err
		}, query, a...)
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
	a := args{msgID}
	cond, dir := pageBounds("d.endpoint_id", p, &a)
	query := "SELECT " + endpointColumnsE + `, d.status, d.next_attempt_at
		FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
		WHERE d.msg_id = $1` + cond + " ORDER BY d.endpoint_id " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.MessageEndpoint
	err := s.read(ctx, "list message endpoints", func(q querier) error {
		if err := messageExists(ctx, q, appID, msgID); err != nil {
			return err
		}
		var err error
		rows, err = queryAll(ctx, q, func(sc scanner) (herald.MessageEndpoint, error) {
			var me herald.MessageEndpoint
			var next time.Time
			var err error
			me.Endpoint, err = scanEndpoint(s.codec, sc, &me.Status, &next)
			me.NextAttemptAt = nextAttempt(me.Status, next)
			return me, err
		}, query, a...)
		return err
	})
	if err != nil {
		return herald.Page[herald.MessageEndpoint]{}, err
	}
	return herald.MakePage(rows, p, func(me herald.MessageEndpoint) string { return me.Endpoint.ID }), nil
}
