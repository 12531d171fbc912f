package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5/pgtype"
)

// Claim scan bounds: a claim first reads one window of the due index,
// oldest first, of Limit*4 rows, at least claimWindowMin, at most
// claimWindowMax.
const (
	claimWindowMin = 256
	claimWindowMax = 2048
)

// claimScanQuery reads one window of the due index (deliveries_due) after
// a cursor, without locking: the claim statement checks each row again.
const claimScanQuery = `SELECT id, endpoint_id, next_attempt_at FROM deliveries
	WHERE status = ` + sqlPending + ` AND next_attempt_at <= $1 AND (next_attempt_at, id) > ($2, $3)
	ORDER BY next_attempt_at, id LIMIT $4`

// endpointHeadsQuery reads the oldest due deliveries ($2 at most) of each
// endpoint that has pending deliveries and is not excluded ($3), and
// returns the oldest $4 of them. The endpoints are listed by a skip scan
// of the partial index deliveries_pending_endpoint: one index probe per
// endpoint, however large its backlog.
const endpointHeadsQuery = `WITH RECURSIVE e (id) AS (
		(SELECT endpoint_id FROM deliveries WHERE status = ` + sqlPending + ` ORDER BY endpoint_id LIMIT 1)
		UNION ALL
		SELECT (SELECT endpoint_id FROM deliveries WHERE status = ` + sqlPending + ` AND endpoint_id > e.id
			ORDER BY endpoint_id LIMIT 1)
		FROM e WHERE e.id IS NOT NULL)
	SELECT d.id, d.endpoint_id, d.next_attempt_at FROM e
	CROSS JOIN LATERAL (
		SELECT id, endpoint_id, next_attempt_at FROM deliveries
		WHERE status = ` + sqlPending + ` AND endpoint_id = e.id AND next_attempt_at <= $1
		ORDER BY next_attempt_at, id LIMIT $2) d
	WHERE e.id IS NOT NULL AND e.id <> ALL($3::text[])
	ORDER BY d.next_attempt_at, d.id LIMIT $4`

// dueRow is one due delivery.
type dueRow struct {
	id, endpointID string
	at             time.Time
}

func scanDueRow(sc scanner) (dueRow, error) {
	var r dueRow
	return r, sc.Scan(&r.id, &r.endpointID, &r.at)
}

// claimer is one DeliveryClaim: what it may still take and what it took.
//
// It reads one bounded window of the due index, oldest first, picks rows
// (skipping excluded endpoints and those at their PerEndpoint bound) and
// claims the picks with one statement, which skips rows that another claim
// took meanwhile. When the window was full and still did not fill the
// claim, the oldest due rows are dominated by a few endpoints (one
// customer's backlog, or the one busy endpoint of a small installation),
// and further windows would most likely hold the same endpoints: the claim
// reads instead the oldest due rows of each endpoint that is neither
// excluded nor at its bound, which costs one index probe per endpoint with
// pending deliveries instead of one row per backlog entry, so that no
// backlog can starve the other endpoints, nor make claims read it again
// and again.
type claimer struct {
	p        herald.ClaimParams
	excluded map[string]bool
	claimed  map[string]int // deliveries claimed per endpoint
	jobs     []herald.DeliveryJob
	held     *heldEndpoints     // endpoints shared claims could not take lately
	codec    herald.SecretCodec // decrypts the claimed endpoints' secrets
}

func newClaimer(p herald.ClaimParams, held *heldEndpoints, codec herald.SecretCodec) *claimer {
	c := &claimer{p: p, excluded: make(map[string]bool, len(p.ExcludeEndpoints)), claimed: map[string]int{}, held: held, codec: codec}
	for _, id := range p.ExcludeEndpoints {
		c.excluded[id] = true
	}
	if p.Node != "" {
		held.addTo(c.excluded, p.Node, p.Now)
	}
	return c
}

// run claims up to p.Limit deliveries through q.
func (c *claimer) run(ctx context.Context, q querier) error {
	window := min(max(c.p.Limit*4, claimWindowMin), claimWindowMax)
	first := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	due, err := queryAll(ctx, q, scanDueRow, claimScanQuery, c.p.Now, first, "", window)
	if err != nil {
		return err
	}
	if err := c.claim(ctx, q, due); err != nil {
		return err
	}
	if len(c.jobs) >= c.p.Limit || len(due) < window {
		return nil // full, or every due delivery was seen
	}
	perEndpoint := c.p.Limit
	if c.p.PerEndpoint > 0 {
		perEndpoint = min(c.p.PerEndpoint, c.p.Limit)
	}
	// Endpoints at their bound are left out too. Those with room left may
	// return more rows than they can take, which pick skips; they number
	// at most the deliveries claimed so far, so Limit rows always suffice.
	excluded := []string{} // never NULL: "<> ALL" would filter every row
	for id := range c.excluded {
		excluded = append(excluded, id)
	}
	if c.p.PerEndpoint > 0 {
		for id, n := range c.claimed {
			if n >= c.p.PerEndpoint {
				excluded = append(excluded, id)
			}
		}
	}
	due, err = queryAll(ctx, q, scanDueRow, endpointHeadsQuery, c.p.Now, perEndpoint, excluded, c.p.Limit)
	if err != nil {
		return err
	}
	return c.claim(ctx, q, due)
}

// claim picks from due and claims the picks.
func (c *claimer) claim(ctx context.Context, q querier, due []dueRow) error {
	var (
		jobs []herald.DeliveryJob
		err  error
	)
	if c.p.Node != "" {
		picks := c.pickRows(due)
		if jobs, err = claimOwned(ctx, q, c.codec, picks, c.p); err == nil {
			c.p.ReleaseEndpoints = nil // done
			err = c.excludeFull(ctx, q, picks, jobs)
		}
	} else {
		jobs, err = claimIDs(ctx, q, c.codec, c.pick(due), c.p)
	}
	if err != nil {
		return err
	}
	for _, j := range jobs {
		c.claimed[j.Delivery.EndpointID]++
	}
	c.jobs = append(c.jobs, jobs...)
	return nil
}

// excludeFull leaves out of the rest of the claim the endpoints of which a
// shared claim took fewer than were picked: another node owns them, or
// their throttle allows no more for now, so reading more of their
// deliveries would be wasted. Those another node owns are left alone for
// heldFor, or until their owner's lease ends if sooner.
func (c *claimer) excludeFull(ctx context.Context, q querier, picks []dueRow, jobs []herald.DeliveryJob) error {
	left := map[string]int{}
	for _, r := range picks {
		left[r.endpointID]++
	}
	for _, j := range jobs {
		left[j.Delivery.EndpointID]--
	}
	var full []string
	for id, n := range left {
		if n > 0 {
			c.excluded[id] = true
			full = append(full, id)
		}
	}
	if len(full) == 0 {
		return nil
	}
	owned, err := queryAll(ctx, q, func(sc scanner) (heldRow, error) {
		var r heldRow
		return r, sc.Scan(&r.id, &r.until)
	}, ownedElsewhereQuery, full, c.p.Node, c.p.Now)
	if err != nil {
		return err
	}
	for _, r := range owned {
		c.held.hold(c.p.Node, r.id, earlier(r.until, c.p.Now.Add(heldFor)))
	}
	return nil
}

// ownedElsewhereQuery lists which of the endpoints ($1) another node than
// $2 owns at $3, and until when.
const ownedElsewhereQuery = `SELECT endpoint_id, until FROM endpoint_owners
	WHERE endpoint_id = ANY($1::text[]) AND node <> $2 AND until >= $3`

// heldRow is an endpoint another node owns, until when.
type heldRow struct {
	id    string
	until time.Time
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// heldFor is how long a node's claims leave alone an endpoint that
// another node owns: reading its deliveries again at every wake-up would
// only cost the database, and its owner claims them meanwhile.
const heldFor = herald.ThrottleHorizon

// heldEndpoints are, per node, the endpoints its shared claims leave
// alone for now, with when to try them again.
type heldEndpoints struct {
	mu    sync.Mutex
	until map[heldKey]time.Time
}

type heldKey struct{ node, endpoint string }

// hold leaves endpoint alone for node until until.
func (h *heldEndpoints) hold(node, endpoint string, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[heldKey]time.Time{}
	}
	h.until[heldKey{node, endpoint}] = until
}

// addTo adds the endpoints held for node at now to set, and forgets those
// no longer held.
func (h *heldEndpoints) addTo(set map[string]bool, node string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, until := range h.until {
		switch {
		case !now.Before(until):
			delete(h.until, k)
		case k.node == node:
			set[k.endpoint] = true
		}
	}
}

// pick returns the IDs of the rows of due to claim, in order, within the
// claim's remaining Limit and each endpoint's remaining PerEndpoint.
func (c *claimer) pick(due []dueRow) []string {
	rows := c.pickRows(due)
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	return ids
}

// pickRows is pick returning the rows.
func (c *claimer) pickRows(due []dueRow) []dueRow {
	room := c.p.Limit - len(c.jobs)
	picked := make([]dueRow, 0, min(room, len(due)))
	taken := map[string]int{}
	for _, r := range due {
		if len(picked) >= room {
			break
		}
		n := c.claimed[r.endpointID] + taken[r.endpointID]
		if c.excluded[r.endpointID] || (c.p.PerEndpoint > 0 && n >= c.p.PerEndpoint) {
			continue
		}
		taken[r.endpointID]++
		picked = append(picked, r)
	}
	return picked
}
