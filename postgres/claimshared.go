package postgres

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5/pgtype"
)

// claimOwnedQuery is a claim by a node on a shared store
// (herald.ClaimParams.Node), in one statement:
//
//   - released gives up the endpoints the node no longer has deliveries of
//     ($6; the caller leaves out those it claims now);
//   - owned takes or renews ownership of the picks' endpoints ($4): the
//     upsert updates a row only when the node owns it already or its owner's
//     last lease has ended, and it decides on the row's latest committed
//     version (waiting for a claim holding it), so two nodes never own one
//     endpoint, whatever their snapshots; endpoints that the snapshot
//     already shows owned by another node are not even tried, so that a
//     claim does not wait on their owner's claims;
//   - beat records that the node is alive (claim_nodes), and of the
//     picks' endpoints nobody owns, owned takes only the node's share:
//     their number divided by the nodes that claimed lately, so that nodes
//     woken by the same messages split them;
//   - cand numbers the picks ($1) of owned endpoints that are still pending,
//     oldest first per endpoint;
//   - pace gives throttled endpoints' picks their turns, 1/rate apart from
//     the endpoint's next turn, and ok keeps the turns within the horizon
//     ($7);
//   - locked takes their rows with FOR UPDATE SKIP LOCKED, passing over
//     any that another transaction (a resend, a rescue) holds, c claims
//     them, and paced records each throttled endpoint's next turn.
const claimOwnedQuery = `WITH released AS (
		DELETE FROM endpoint_owners WHERE node = $5 AND endpoint_id = ANY($6::text[])),
	beat AS (
		INSERT INTO claim_nodes (node, seen_at) VALUES ($5, $3)
		ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at),
	wanted AS (
		SELECT e, mine,
			row_number() OVER (PARTITION BY mine ORDER BY e) AS rn,
			count(*) OVER (PARTITION BY mine) AS n
		FROM (SELECT e, EXISTS (SELECT 1 FROM endpoint_owners m WHERE m.endpoint_id = e AND m.node = $5) AS mine
			FROM unnest($4::text[]) AS e
			WHERE NOT EXISTS (SELECT 1 FROM endpoint_owners x WHERE x.endpoint_id = e AND x.node <> $5 AND x.until >= $3)) w),
	owned AS (
		INSERT INTO endpoint_owners AS o (endpoint_id, node, until)
		SELECT e, $5, $2 FROM wanted
		WHERE mine OR rn <= ceil(n::float8 / (1 + (SELECT count(*) FROM claim_nodes
			WHERE node <> $5 AND seen_at > $3::timestamptz - interval '` + nodeSeenWithin + `')))
		ORDER BY e
		ON CONFLICT (endpoint_id) DO UPDATE SET node = excluded.node, until = greatest(o.until, excluded.until)
		WHERE o.node = excluded.node OR o.until < $3
		RETURNING o.endpoint_id),
	cand AS (
		SELECT d.id, d.endpoint_id,
			row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
		FROM deliveries d JOIN owned ON owned.endpoint_id = d.endpoint_id
		WHERE d.id = ANY($1::text[]) AND d.status = ` + sqlPending + `),
	pace AS (
		SELECT e.id AS endpoint_id, interval '1 second' / e.throttle_rate AS gap,
			greatest(coalesce(t.next_at, $3), $3) AS start
		FROM endpoints e LEFT JOIN endpoint_throttle t ON t.endpoint_id = e.id
		WHERE e.id IN (SELECT endpoint_id FROM owned) AND e.throttle_rate > 0),
	ok AS (
		SELECT cand.id, pace.start + (cand.rn - 1) * pace.gap AS not_before
		FROM cand LEFT JOIN pace USING (endpoint_id)
		WHERE pace.endpoint_id IS NULL OR pace.start + (cand.rn - 1) * pace.gap < $7),
	locked AS (
		SELECT d.id, ok.not_before FROM deliveries d JOIN ok ON ok.id = d.id
		WHERE d.status = ` + sqlPending + `
		FOR UPDATE OF d SKIP LOCKED),
	c AS (
		UPDATE deliveries d SET status = ` + sqlSending + `, lease_until = $2, updated_at = $3
		FROM locked WHERE d.id = locked.id
		RETURNING d.*, locked.not_before),
	paced AS (
		INSERT INTO endpoint_throttle (endpoint_id, next_at)
		SELECT c.endpoint_id, max(c.not_before) + min(pace.gap)
		FROM c JOIN pace USING (endpoint_id) GROUP BY c.endpoint_id
		ON CONFLICT (endpoint_id) DO UPDATE SET next_at = excluded.next_at)
	SELECT ` + messageColumns + `, ` + deliveryColumnsC + `, ` + endpointColumnsE + `, c.not_before
	FROM c JOIN messages m ON m.id = c.msg_id JOIN endpoints e ON e.id = c.endpoint_id`

// nodeSeenWithin is how recently a node must have claimed to count as
// sharing the work. Idle nodes look for work every second or so.
const nodeSeenWithin = "10 seconds"

// idleClaimQuery is a claim with nothing to take: it records that the
// node is alive and gives up the endpoints it is done with.
const idleClaimQuery = `WITH released AS (
		DELETE FROM endpoint_owners WHERE node = $1 AND endpoint_id = ANY($2::text[]))
	INSERT INTO claim_nodes (node, seen_at) VALUES ($1, $3)
	ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at`

// claimOwned claims the picked rows as node p.Node (see claimOwnedQuery)
// and releases p.ReleaseEndpoints, except those among the picks'.
func claimOwned(ctx context.Context, q querier, c herald.SecretCodec, picks []dueRow, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	ids := make([]string, 0, len(picks))
	picked := map[string]bool{}
	var eps []string
	for _, r := range picks {
		ids = append(ids, r.id)
		if !picked[r.endpointID] {
			picked[r.endpointID] = true
			eps = append(eps, r.endpointID)
		}
	}
	release := []string{} // never NULL
	for _, id := range p.ReleaseEndpoints {
		if !picked[id] {
			release = append(release, id)
		}
	}
	if len(ids) == 0 {
		_, err := q.Exec(ctx, idleClaimQuery, p.Node, release, p.Now)
		return nil, err
	}
	return queryAll(ctx, q, func(sc scanner) (herald.DeliveryJob, error) { return scanOwnedJob(c, sc) }, claimOwnedQuery, ids, p.LeaseUntil, p.Now, eps, p.Node, release,
		p.Now.Add(herald.ThrottleHorizon))
}

// scanOwnedJob scans one row of claimOwnedQuery: a job and its turn.
func scanOwnedJob(c herald.SecretCodec, sc scanner) (herald.DeliveryJob, error) {
	var (
		m  messageRow
		d  deliveryRow
		e  endpointRow
		nb pgtype.Timestamptz
	)
	dest := append(append(append(m.dest(), d.dest()...), e.dest()...), &nb)
	if err := sc.Scan(dest...); err != nil {
		return herald.DeliveryJob{}, err
	}
	ep, err := e.endpoint(c)
	job := herald.DeliveryJob{Message: m.message(), Delivery: d.delivery(), Endpoint: ep}
	if nb.Valid {
		job.NotBefore = nb.Time.UTC()
	}
	return job, err
}

// purgeOwnersQuery deletes ownerships whose last lease has ended (their
// node died, or stopped without releasing), nodes not seen for an hour,
// and paces that ended more than a minute ago: a throttled endpoint's row
// whose next_at has passed paces as no row does (a claim starts from now),
// and without this the rows of endpoints no longer throttled, or deleted,
// would stay for ever.
const purgeOwnersQuery = `WITH gone AS (DELETE FROM claim_nodes WHERE seen_at < $1::timestamptz - interval '1 hour'),
	paced AS (DELETE FROM endpoint_throttle WHERE next_at < $1::timestamptz - interval '1 minute')
	DELETE FROM endpoint_owners WHERE until < $1`

// endedOwnershipsPurge deletes expired ownerships, long-gone nodes and
// ended paces; lease rescue calls it.
func endedOwnershipsPurge(ctx context.Context, q querier, now time.Time) error {
	_, err := q.Exec(ctx, purgeOwnersQuery, now)
	return err
}
