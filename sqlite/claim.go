package sqlite

import (
	"math"
	"slices"

	"github.com/herald-webhooks/herald"
)

// Claim scan bounds: a claim first reads the due index, oldest first, in
// windows of claimWindow rows (Limit*4, at least claimWindowMin, at most
// claimWindowMax), for at most claimRounds windows.
const (
	claimWindowMin = 256
	claimWindowMax = 2048
	claimRounds    = 4
)

// claimScanQuery reads one window of the due index, after a cursor.
const claimScanQuery = `SELECT id, endpoint_id, next_attempt_at FROM deliveries INDEXED BY deliveries_due
	WHERE status = 1 AND next_attempt_at <= ? AND (next_attempt_at, id) > (?, ?)
	ORDER BY next_attempt_at, id LIMIT ?`

// pendingEndpointsQuery lists the endpoints that have pending deliveries,
// skipping from one endpoint to the next through the partial index
// deliveries_pending_endpoint: one index seek per endpoint, however many
// deliveries each has.
const pendingEndpointsQuery = `WITH RECURSIVE e(id) AS (
		SELECT (SELECT endpoint_id FROM deliveries INDEXED BY deliveries_pending_endpoint
			WHERE status = 1 ORDER BY endpoint_id LIMIT 1)
		UNION ALL
		SELECT (SELECT endpoint_id FROM deliveries INDEXED BY deliveries_pending_endpoint
			WHERE status = 1 AND endpoint_id > e.id ORDER BY endpoint_id LIMIT 1)
		FROM e WHERE e.id IS NOT NULL)
	SELECT id FROM e WHERE id IS NOT NULL`

// dueRow is one due delivery.
type dueRow struct {
	id, endpointID string
	at             int64
}

func scanDueRow(sc scanner) (dueRow, error) {
	var r dueRow
	return r, sc.Scan(&r.id, &r.endpointID, &r.at)
}

// pickDue returns the IDs of the deliveries to claim, oldest due first;
// excluded is p.ExcludeEndpoints as a set.
//
// The fast path reads the due index in a few bounded windows and picks
// rows as it goes, skipping excluded endpoints and those at their
// PerEndpoint bound. When that reads every window without filling the
// claim, the oldest due rows are dominated by a few endpoints (one
// customer's backlog), and the claim falls back to pickDueByEndpoint,
// which costs one index seek per endpoint with pending deliveries instead
// of one row per backlog entry, so that one backlog cannot starve every
// other endpoint.
func pickDue(w *wtx, p herald.ClaimParams, excluded map[string]bool) ([]string, error) {
	window := min(max(p.Limit*4, claimWindowMin), claimWindowMax)
	perEndpoint := map[string]int{}
	var picked []string
	lastAt, lastID := int64(math.MinInt64), ""
	for range claimRounds {
		rows, err := w.query(claimScanQuery, ts(p.Now), lastAt, lastID, window)
		if err != nil {
			return nil, err
		}
		due, err := collect(rows, scanDueRow)
		if err != nil {
			return nil, err
		}
		for _, r := range due {
			lastAt, lastID = r.at, r.id
			if excluded[r.endpointID] || (p.PerEndpoint > 0 && perEndpoint[r.endpointID] >= p.PerEndpoint) {
				continue
			}
			perEndpoint[r.endpointID]++
			picked = append(picked, r.id)
			if len(picked) == p.Limit {
				return picked, nil
			}
		}
		if len(due) < window {
			return picked, nil // every due delivery was seen
		}
	}
	return pickDueByEndpoint(w, p, excluded)
}

// pickDueByEndpoint takes the oldest due deliveries of the endpoints with
// pending deliveries that are not excluded (see pickFromEndpoints).
func pickDueByEndpoint(w *wtx, p herald.ClaimParams, excluded map[string]bool) ([]string, error) {
	endpoints, err := pendingEndpoints(w)
	if err != nil {
		return nil, err
	}
	endpoints = slices.DeleteFunc(endpoints, func(ep string) bool { return excluded[ep] })
	return pickFromEndpoints(w, p, endpoints)
}

// pendingEndpoints lists the endpoints that have pending deliveries, one
// index seek each (pendingEndpointsQuery).
func pendingEndpoints(w *wtx) ([]string, error) {
	rows, err := w.query(pendingEndpointsQuery)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
}
