package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

const deliveryColumns = "d.id, d.app_id, d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, " +
	"d.lease_until, d.trigger_type, d.created_at, d.updated_at"

func scanDelivery(sc scanner, extra ...any) (herald.Delivery, error) {
	var d herald.Delivery
	var next, lease, created, updated int64
	dest := append([]any{&d.ID, &d.AppID, &d.MsgID, &d.EndpointID, &d.Status, &d.Attempts, &next, &lease,
		&d.Trigger, &created, &updated}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return d, err
	}
	d.NextAttemptAt, d.LeaseUntil = fromTS(next), fromTS(lease)
	d.CreatedAt, d.UpdatedAt = fromTS(created), fromTS(updated)
	return d, nil
}

// jsonIDs encodes ids as one JSON array argument, for
// "IN (SELECT value FROM json_each(?))" without a limit on their number.
func jsonIDs(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // strings always encode
	return string(b)
}

// DeliveryClaim implements herald.DeliveryStore. Jobs claimed on create
// (see handoff) come first, from memory; the database is read only when
// the due index says that an endpoint the claim may take has due
// deliveries (see claimFromDB).
func (s *Store) DeliveryClaim(ctx context.Context, p herald.ClaimParams) ([]herald.DeliveryJob, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	excluded := make(map[string]bool, len(p.ExcludeEndpoints))
	for _, id := range p.ExcludeEndpoints {
		excluded[id] = true
	}
	s.handoff.noteClaim(p, excluded)
	jobs, stale := s.handoff.pop(p, excluded)
	rest := p
	rest.Limit -= len(jobs)
	if len(stale) == 0 && (rest.Limit == 0 || !s.due.mayHaveDue(p.Now, excluded)) {
		return jobs, nil
	}
	var claimed []herald.DeliveryJob
	err := s.write(ctx, "claim deliveries", func(w *wtx) error {
		claimed = nil
		if err := releaseStale(w, stale, p.Now); err != nil || rest.Limit == 0 {
			return err
		}
		var err error
		claimed, err = s.claimFromDB(w, rest, excluded)
		return err
	})
	if err != nil {
		// The jobs taken from memory are claimed in the database already.
		if len(jobs) > 0 {
			return jobs, nil
		}
		return nil, err
	}
	return append(jobs, claimed...), nil
}

// claimFromDB claims due deliveries from the queue table, and updates the
// due index for the endpoints it looked at. It reads each candidate
// endpoint's own oldest deliveries (pickFromEndpoints): that never reads
// past an excluded endpoint's backlog, nor past what PerEndpoint leaves of
// one large backlog. Only when there are more candidates than the claim
// takes and none is excluded does it scan the table's due index in due
// order instead (pickDue), which then reads about as much as it takes.
func (s *Store) claimFromDB(w *wtx, p herald.ClaimParams, excluded map[string]bool) ([]herald.DeliveryJob, error) {
	eps, known := s.due.candidates(p.Now, excluded)
	if !known {
		ok, err := s.rebuildDue(w)
		if err != nil {
			return nil, err
		}
		if !ok { // too many endpoints to track
			ids, err := pickDue(w, p, excluded)
			if err != nil {
				return nil, err
			}
			return claimIDs(w, p, ids)
		}
		eps, _ = s.due.candidates(p.Now, excluded)
	}
	if len(eps) == 0 {
		return nil, nil
	}
	var ids []string
	var err error
	if len(eps) <= p.Limit || s.due.excludedDue(p.Now, excluded) {
		ids, err = pickFromEndpoints(w, p, eps)
	} else {
		ids, err = pickDue(w, p, excluded)
	}
	if err != nil {
		return nil, err
	}
	jobs, err := claimIDs(w, p, ids)
	if err != nil {
		return nil, err
	}
	return jobs, s.refreshDue(w, eps)
}

// endpointsDueQuery reads the oldest due deliveries of each endpoint
// listed (a JSON array), at most a given number each: one statement that
// seeks each endpoint's part of deliveries_pending_endpoint.
const endpointsDueQuery = `SELECT d.id, d.endpoint_id, d.next_attempt_at FROM json_each(?) e
	JOIN deliveries d ON d.id IN (
		SELECT x.id FROM deliveries x INDEXED BY deliveries_pending_endpoint
		WHERE x.status = 1 AND x.endpoint_id = e.value AND x.next_attempt_at <= ?
		ORDER BY x.next_attempt_at, x.id LIMIT ?)`

// pickFromEndpoints returns the IDs of the Limit oldest due deliveries of
// the candidate endpoints, taking at most PerEndpoint of any one. It reads
// a few of each endpoint's oldest in one statement (enough for Limit if
// they were spread evenly), then reads more of the endpoints that may
// hold older ones than the Limit oldest read so far, doubling, until none
// does: so it reads little more than it takes, whether the oldest
// deliveries are in one endpoint or spread over all of them.
func pickFromEndpoints(w *wtx, p herald.ClaimParams, eps []string) ([]string, error) {
	if len(eps) == 0 {
		return nil, nil
	}
	most := p.Limit
	if p.PerEndpoint > 0 {
		most = min(most, p.PerEndpoint)
	}
	byEndpoint := map[string][]dueRow{}
	want := slices.Clone(eps)
	for k := min(most, (p.Limit+len(eps)-1)/len(eps)); len(want) > 0; k = min(2*k, most) {
		rows, err := w.query(endpointsDueQuery, jsonIDs(want), ts(p.Now), k)
		if err != nil {
			return nil, err
		}
		head, err := collect(rows, scanDueRow)
		if err != nil {
			return nil, err
		}
		for _, id := range want {
			byEndpoint[id] = nil
		}
		for _, r := range head {
			byEndpoint[r.endpointID] = append(byEndpoint[r.endpointID], r)
		}
		cutoff := oldest(byEndpoint, p.Limit)
		want = want[:0]
		for id, rs := range byEndpoint { // full reads that may hide older rows
			if len(rs) == k && k < most && (cutoff == nil || rs[k-1].at < cutoff.at ||
				rs[k-1].at == cutoff.at && rs[k-1].id < cutoff.id) {
				want = append(want, id)
			}
		}
	}
	var all []dueRow
	for _, rs := range byEndpoint {
		all = append(all, rs...)
	}
	sortDue(all)
	ids := make([]string, 0, min(len(all), p.Limit))
	for _, r := range all[:min(len(all), p.Limit)] {
		ids = append(ids, r.id)
	}
	return ids, nil
}

// oldest returns the limit-th oldest row read, or nil when fewer were.
func oldest(byEndpoint map[string][]dueRow, limit int) *dueRow {
	var all []dueRow
	for _, rs := range byEndpoint {
		all = append(all, rs...)
	}
	if len(all) < limit {
		return nil
	}
	sortDue(all)
	return &all[limit-1]
}

// sortDue orders due rows oldest first.
func sortDue(due []dueRow) {
	slices.SortFunc(due, func(a, b dueRow) int {
		return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.id, b.id))
	})
}

// claimIDs marks the deliveries claimed and loads their jobs.
func claimIDs(w *wtx, p herald.ClaimParams, ids []string) ([]herald.DeliveryJob, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	_, err := w.exec(`UPDATE deliveries SET status = ?, lease_until = ?, updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?))`,
		herald.StatusSending, ts(p.LeaseUntil), ts(p.Now), jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	return loadJobs(w, ids)
}

// endpointsNextDueQuery reads the earliest pending delivery of each
// endpoint listed (a JSON array), one index seek each; NULL for none.
const endpointsNextDueQuery = `SELECT e.value, (SELECT MIN(next_attempt_at) FROM deliveries INDEXED BY deliveries_pending_endpoint
		WHERE status = 1 AND endpoint_id = e.value)
	FROM json_each(?) e`

// refreshDue sets the endpoints' times in the due index from the table.
func (s *Store) refreshDue(w *wtx, ids []string) error {
	next, err := endpointsNextDue(w, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		at, ok := next[id]
		s.due.set(id, at, ok)
	}
	return nil
}

// endpointsNextDue returns the earliest due time of each listed endpoint
// that has a pending delivery.
func endpointsNextDue(w *wtx, ids []string) (map[string]time.Time, error) {
	rows, err := w.query(endpointsNextDueQuery, jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]time.Time, len(ids))
	for rows.Next() {
		var id string
		var next sql.NullInt64
		if err := rows.Scan(&id, &next); err != nil {
			return nil, err
		}
		if next.Valid {
			out[id] = fromTS(next.Int64)
		}
	}
	return out, rows.Err()
}

// rebuildDue reads the due index from the table: the endpoints with
// pending deliveries (one index seek each) and the earliest of each. It
// reports false, leaving the index unknown, when there are more endpoints
// than the index tracks.
func (s *Store) rebuildDue(w *wtx) (bool, error) {
	eps, err := pendingEndpoints(w)
	if err != nil || len(eps) > dueIndexMax {
		return false, err
	}
	at, err := endpointsNextDue(w, eps)
	if err != nil {
		return false, err
	}
	s.due.reset(at)
	return true, nil
}

// releaseStale returns claimed-on-create deliveries that waited in memory
// too long to the queue, due now.
func releaseStale(w *wtx, stale []herald.Delivery, now time.Time) error {
	if len(stale) == 0 {
		return nil
	}
	ids := make([]string, len(stale))
	for i, d := range stale {
		ids[i] = d.ID
	}
	_, err := w.exec(`UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = 0, updated_at = ?
		WHERE status = 3 AND id IN (SELECT value FROM json_each(?))`,
		herald.StatusPending, ts(now), ts(now), jsonIDs(ids))
	if err != nil {
		return err
	}
	for _, d := range stale {
		w.due(d.EndpointID, now)
	}
	w.notify = true
	return nil
}

// loadJobs returns the claimed deliveries with their messages and
// endpoints, oldest due first.
func loadJobs(w *wtx, ids []string) ([]herald.DeliveryJob, error) {
	rows, err := w.query("SELECT "+messageColumns+", "+deliveryColumns+` FROM deliveries d
		JOIN messages m ON m.id = d.msg_id
		WHERE d.id IN (SELECT value FROM json_each(?))
		ORDER BY d.next_attempt_at, d.id`, jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	jobs, err := collect(rows, func(sc scanner) (herald.DeliveryJob, error) {
		var j herald.DeliveryJob
		var next, lease, created, updated int64
		var err error
		j.Message, err = scanMessage(sc, &j.Delivery.ID, &j.Delivery.AppID, &j.Delivery.MsgID, &j.Delivery.EndpointID,
			&j.Delivery.Status, &j.Delivery.Attempts, &next, &lease, &j.Delivery.Trigger, &created, &updated)
		j.Delivery.NextAttemptAt, j.Delivery.LeaseUntil = fromTS(next), fromTS(lease)
		j.Delivery.CreatedAt, j.Delivery.UpdatedAt = fromTS(created), fromTS(updated)
		return j, err
	})
	if err != nil {
		return nil, err
	}
	var epIDs []string
	seen := map[string]bool{}
	for _, j := range jobs {
		if !seen[j.Delivery.EndpointID] {
			seen[j.Delivery.EndpointID] = true
			epIDs = append(epIDs, j.Delivery.EndpointID)
		}
	}
	rows, err = w.query("SELECT "+endpointColumns+" FROM endpoints WHERE id IN (SELECT value FROM json_each(?))", jsonIDs(epIDs))
	if err != nil {
		return nil, err
	}
	eps, err := collect(rows, endpointScanner(w.w.codec))
	if err != nil {
		return nil, err
	}
	byID := make(map[string]herald.Endpoint, len(eps))
	for _, e := range eps {
		byID[e.ID] = e
	}
	for i := range jobs {
		jobs[i].Endpoint = byID[jobs[i].Delivery.EndpointID]
	}
	return jobs, nil
}
