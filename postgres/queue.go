package postgres

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

// deliveryColumnsC is the delivery columns on the alias c.
const deliveryColumnsC = "c.id, c.app_id, c.msg_id, c.endpoint_id, c.status, c.attempts, c.next_attempt_at, " +
	"c.lease_until, c.trigger_type, c.created_at, c.updated_at"

// deliveryRow receives the columns of deliveryColumnsC.
type deliveryRow struct {
	d     herald.Delivery
	lease *time.Time
}

// dest returns the scan destinations, in deliveryColumnsC order.
func (r *deliveryRow) dest() []any {
	d := &r.d
	return []any{&d.ID, &d.AppID, &d.MsgID, &d.EndpointID, &d.Status, &d.Attempts, &d.NextAttemptAt,
		&r.lease, &d.Trigger, &d.CreatedAt, &d.UpdatedAt}
}

// delivery decodes the scanned columns.
func (r *deliveryRow) delivery() herald.Delivery {
	d := r.d
	d.LeaseUntil = fromNullTS(r.lease)
	d.NextAttemptAt = fromTS(d.NextAttemptAt)
	d.CreatedAt, d.UpdatedAt = fromTS(d.CreatedAt), fromTS(d.UpdatedAt)
	return d
}

// claimQuery marks the listed deliveries as sending, skipping those that
// are no longer pending or that another claim holds (FOR UPDATE SKIP
// LOCKED: two claims never take one delivery), and returns each claimed
// delivery with its message and endpoint, in one round trip.
const claimQuery = `WITH locked AS (
		SELECT id FROM deliveries WHERE id = ANY($1::text[]) AND status = ` + sqlPending + `
		FOR UPDATE SKIP LOCKED),
	c AS (
		UPDATE deliveries d SET status = ` + sqlSending + `, lease_until = $2, updated_at = $3
		FROM locked WHERE d.id = locked.id
		RETURNING d.*)
	` + claimedJobs

// claimedJobs ends a claim statement: it returns each delivery claimed by
// its CTE c with its message and endpoint.
const claimedJobs = `SELECT ` + messageColumns + `, ` + deliveryColumnsC + `, ` + endpointColumnsE + `
	FROM c JOIN messages m ON m.id = c.msg_id JOIN endpoints e ON e.id = c.endpoint_id`

// claimIDs claims the deliveries ids (those still pending and free) and
// returns them as jobs.
func claimIDs(ctx context.Context, q querier, c herald.SecretCodec, ids []string, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return queryAll(ctx, q, func(sc scanner) (herald.DeliveryJob, error) { return scanJob(c, sc) }, claimQuery, ids, p.LeaseUntil, p.Now)
}

// scanJob scans one row of claimQuery.
func scanJob(c herald.SecretCodec, sc scanner) (herald.DeliveryJob, error) {
	var (
		m messageRow
		d deliveryRow
		e endpointRow
	)
	dest := append(append(m.dest(), d.dest()...), e.dest()...)
	if err := sc.Scan(dest...); err != nil {
		return herald.DeliveryJob{}, err
	}
	ep, err := e.endpoint(c)
	return herald.DeliveryJob{Message: m.message(), Delivery: d.delivery(), Endpoint: ep}, err
}

// DeliveryClaim implements herald.DeliveryStore; see claimer for how it
// chooses. Each claim statement commits on its own, so that claimed
// deliveries are visible as sending to every other node at once.
func (s *Store) DeliveryClaim(ctx context.Context, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	c := newClaimer(p, &s.held, s.codec)
	err := s.read(ctx, "claim deliveries", func(q querier) error { return c.run(ctx, q) })
	if err != nil && len(c.jobs) == 0 {
		return nil, err
	}
	if err != nil {
		// Deliveries claimed before a failure are returned: they are
		// sending now, and would otherwise wait for their lease to end.
		s.cfg.Logger.Warn("claim deliveries: returning those claimed before an error", "count", len(c.jobs), "err", err)
	}
	slices.SortFunc(c.jobs, func(a, b herald.DeliveryJob) int {
		return cmp.Or(a.Delivery.NextAttemptAt.Compare(b.Delivery.NextAttemptAt),
			strings.Compare(a.Delivery.ID, b.Delivery.ID))
	})
	return c.jobs, nil
}
