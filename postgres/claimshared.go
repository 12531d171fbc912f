package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

// lockEndpointsQuery locks the listed endpoints for the claim's
// transaction, skipping those another node's claim holds (they are left
// to that node for this round), and returns each one's throttle rate and
// throttle state. Claims for one endpoint thus run one at a time across
// every node, so that each sees the deliveries the previous one claimed.
// FOR NO KEY UPDATE does not block the key-share locks that inserting a
// delivery takes on its endpoint.
const lockEndpointsQuery = `SELECT e.id, coalesce(e.throttle_rate, 0), t.next_at
	FROM endpoints e LEFT JOIN endpoint_throttle t ON t.endpoint_id = e.id
	WHERE e.id = ANY($1::text[])
	ORDER BY e.id
	FOR NO KEY UPDATE OF e SKIP LOCKED`

// claimSharedQuery claims, of the listed deliveries, those that fit their
// endpoint's room: for each endpoint ($4) at most its bound ($5) minus
// its deliveries sending already, and at most its throttle allowance
// ($6), oldest first. It runs after lockEndpointsQuery in the same
// transaction, so its snapshot holds every claim committed before.
const claimSharedQuery = `WITH busy AS (
		SELECT endpoint_id, count(*) AS n FROM deliveries
		WHERE status = ` + sqlSending + ` AND endpoint_id = ANY($4::text[])
		GROUP BY endpoint_id),
	room AS (SELECT * FROM unnest($4::text[], $5::int8[], $6::int8[]) AS r (endpoint_id, bound, allow)),
	cand AS (
		SELECT d.id, d.endpoint_id,
			row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
		FROM deliveries d WHERE d.id = ANY($1::text[]) AND d.status = ` + sqlPending + `),
	ok AS (
		SELECT cand.id FROM cand JOIN room USING (endpoint_id) LEFT JOIN busy USING (endpoint_id)
		WHERE cand.rn <= least(room.bound - coalesce(busy.n, 0), room.allow)),
	c AS (
		UPDATE deliveries d SET status = ` + sqlSending + `, lease_until = $2, updated_at = $3
		FROM ok WHERE d.id = ok.id AND d.status = ` + sqlPending + `
		RETURNING d.*)
	` + claimedJobs

// saveThrottleQuery records when each throttled endpoint's next attempt
// may start.
const saveThrottleQuery = `INSERT INTO endpoint_throttle (endpoint_id, next_at)
	SELECT * FROM unnest($1::text[], $2::timestamptz[])
	ON CONFLICT (endpoint_id) DO UPDATE SET next_at = excluded.next_at`

// gate is one locked endpoint's limits for a shared claim.
type gate struct {
	id   string
	rate int64     // throttle rate per second; 0: not throttled
	next time.Time // when its next attempt may start, if throttled
}

// interval is the time between two attempts at the gate's rate.
func (g *gate) interval() time.Duration { return time.Duration(float64(time.Second) / float64(g.rate)) }

// allowance is how many deliveries the gate lets a claim at now take for
// its throttle: those whose turn comes within herald.ThrottleHorizon.
func (g *gate) allowance(now time.Time) int64 {
	if g.rate <= 0 {
		return math.MaxInt32
	}
	start := later(g.next, now)
	left := now.Add(herald.ThrottleHorizon).Sub(start)
	if left <= 0 {
		return 0
	}
	return int64(math.Ceil(float64(left) / float64(g.interval())))
}

// pace gives each job of a throttled endpoint, in queue order, its turn,
// and moves the gate's next turn past them.
func (g *gate) pace(jobs []*herald.DeliveryJob, now time.Time) {
	at := later(g.next, now)
	for _, j := range jobs {
		j.NotBefore = at
		at = at.Add(g.interval())
	}
	g.next = at
}

// beginner starts transactions: the pool.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// claimShared claims the picked rows under the limits shared by every
// node (herald.ClaimParams.ClusterPerEndpoint), in one transaction:
// lock the picks' endpoints, claim what fits, and record the throttled
// endpoints' next turns.
func claimShared(ctx context.Context, q querier, picks []dueRow, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	if len(picks) == 0 {
		return nil, nil
	}
	pool, ok := q.(beginner)
	if !ok {
		return nil, errors.New("shared claim needs the pool")
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer rollback(tx) // a no-op after Commit
	gates, err := lockGates(ctx, tx, picks)
	if err != nil || len(gates) == 0 {
		return nil, err
	}
	jobs, err := claimWithin(ctx, tx, picks, gates, p)
	if err != nil {
		return nil, err
	}
	if err := paceThrottled(ctx, tx, jobs, gates, p.Now); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return jobs, nil
}

// lockGates locks the endpoints of the picks that no other claim holds.
func lockGates(ctx context.Context, tx pgx.Tx, picks []dueRow) (map[string]*gate, error) {
	ids := make([]string, 0, len(picks))
	for _, r := range picks {
		ids = append(ids, r.endpointID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := queryAll(ctx, tx, func(sc scanner) (*gate, error) {
		g := &gate{}
		var next *time.Time
		err := sc.Scan(&g.id, &g.rate, &next)
		if next != nil {
			g.next = *next
		}
		return g, err
	}, lockEndpointsQuery, ids)
	if err != nil {
		return nil, err
	}
	gates := make(map[string]*gate, len(rows))
	for _, g := range rows {
		gates[g.id] = g
	}
	return gates, nil
}

// claimWithin claims the picks that fit their gates' room.
func claimWithin(ctx context.Context, tx pgx.Tx, picks []dueRow, gates map[string]*gate, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	ids := make([]string, 0, len(picks))
	for _, r := range picks {
		if gates[r.endpointID] != nil {
			ids = append(ids, r.id)
		}
	}
	eps := make([]string, 0, len(gates))
	bounds := make([]int64, 0, len(gates))
	allows := make([]int64, 0, len(gates))
	for id, g := range gates {
		eps = append(eps, id)
		bounds = append(bounds, int64(p.ClusterPerEndpoint))
		allows = append(allows, g.allowance(p.Now))
	}
	return queryAll(ctx, tx, scanJob, claimSharedQuery, ids, p.LeaseUntil, p.Now, eps, bounds, allows)
}

// paceThrottled gives the claimed jobs of throttled endpoints their
// turns and saves those endpoints' next turns.
func paceThrottled(ctx context.Context, tx pgx.Tx, jobs []herald.DeliveryJob, gates map[string]*gate, now time.Time) error {
	byEndpoint := map[string][]*herald.DeliveryJob{}
	for i := range jobs {
		j := &jobs[i]
		if g := gates[j.Delivery.EndpointID]; g != nil && g.rate > 0 {
			byEndpoint[g.id] = append(byEndpoint[g.id], j)
		}
	}
	if len(byEndpoint) == 0 {
		return nil
	}
	ids := make([]string, 0, len(byEndpoint))
	nexts := make([]time.Time, 0, len(byEndpoint))
	for id, js := range byEndpoint {
		slices.SortFunc(js, func(a, b *herald.DeliveryJob) int {
			if c := a.Delivery.NextAttemptAt.Compare(b.Delivery.NextAttemptAt); c != 0 {
				return c
			}
			return strings.Compare(a.Delivery.ID, b.Delivery.ID)
		})
		g := gates[id]
		g.pace(js, now)
		ids = append(ids, id)
		nexts = append(nexts, g.next)
	}
	_, err := tx.Exec(ctx, saveThrottleQuery, ids, nexts)
	return err
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
