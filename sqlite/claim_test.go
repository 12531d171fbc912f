package sqlite

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// fillBacklog inserts n messages to appID, each with a pending delivery
// to endpointID due at base plus its index in microseconds, in one write.
func fillBacklog(t *testing.T, s *Store, appID, endpointID string, n int, base time.Time) {
	t.Helper()
	err := s.w.do(context.Background(), func(w *wtx) error {
		for i := range n {
			at := base.Add(time.Duration(i) * time.Microsecond)
			msgID := herald.NewID(herald.PrefixMessage, at)
			if _, err := w.exec("INSERT INTO messages (id, app_id, event_type, payload, payload_retention_days, created_at) VALUES (?, ?, 'backlog', X'7B7D', 1, ?)",
				msgID, appID, ts(at)); err != nil {
				return err
			}
			d := herald.Delivery{ID: herald.NewID(herald.PrefixDelivery, at), AppID: appID, MsgID: msgID, EndpointID: endpointID,
				Status: herald.StatusPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
			if err := insertDeliveries(w, []herald.Delivery{d}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("fill backlog: %v", err)
	}
}

// TestClaimLooksPastLargeBacklog checks the fallback of pickDue: a backlog
// of one endpoint larger than the fast path reads must not hide the due
// deliveries of other endpoints.
func TestClaimLooksPastLargeBacklog(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, base), Name: "a", CreatedAt: base, UpdatedAt: base}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	newEndpoint := func() *herald.Endpoint {
		now := time.Now()
		e := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://x.example", CreatedAt: now, UpdatedAt: now}
		if err := s.EndpointCreate(ctx, e, 0); err != nil {
			t.Fatal(err)
		}
		return e
	}
	busy := newEndpoint()
	backlog := claimRounds*claimWindowMax + 1000
	fillBacklog(t, s, app.ID, busy.ID, backlog, base)
	idle := newEndpoint()
	later := base.Add(time.Hour)
	for i := range 3 {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, later), AppID: app.ID, EventType: "x",
			Payload: []byte("{}"), CreatedAt: later.Add(time.Duration(i) * time.Second)}
		if _, err := s.MessageCreate(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := later.Add(time.Minute)
	claim := func(p herald.ClaimParams) map[string]int {
		t.Helper()
		p.Now, p.LeaseUntil = now, now.Add(time.Minute)
		start := time.Now()
		jobs, err := s.DeliveryClaim(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("claim %+v took %v", p, time.Since(start))
		count := map[string]int{}
		for _, j := range jobs {
			count[j.Delivery.EndpointID]++
		}
		return count
	}
	if got := claim(herald.ClaimParams{Limit: 10, PerEndpoint: 2}); got[busy.ID] != 2 || got[idle.ID] != 2 {
		t.Fatalf("PerEndpoint 2 behind a backlog of %d claimed %v, want 2 for each endpoint", backlog, got)
	}
	if got := claim(herald.ClaimParams{Limit: 10, ExcludeEndpoints: []string{busy.ID}}); got[idle.ID] != 1 || len(got) != 1 {
		t.Fatalf("excluding the busy endpoint claimed %v, want the idle endpoint's last delivery", got)
	}
	if got := claim(herald.ClaimParams{Limit: 10, ExcludeEndpoints: []string{busy.ID}}); len(got) != 0 {
		t.Fatalf("claimed %v, want nothing", got)
	}
	if got := claim(herald.ClaimParams{Limit: 100}); got[busy.ID] != 100 {
		t.Fatalf("claimed %v, want 100 of the backlog", got)
	}
}

var tableScan = regexp.MustCompile(`SCAN deliveries($|;)`)

func TestClaimQueriesUseIndexes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	for _, tc := range []struct {
		query string
		args  []any
		index string
	}{
		{claimScanQuery, []any{0, 0, "", 10}, "deliveries_due"},
		{nextDueQuery, nil, "deliveries_due"},
		{rescueQuery, []any{1, 0, 0, 0}, "deliveries_leased"},
		{endpointsDueQuery, []any{`["ep"]`, 0, 10}, "deliveries_pending_endpoint"},
		{endpointsNextDueQuery, []any{`["ep"]`}, "deliveries_pending_endpoint"},
		{pendingEndpointsQuery, nil, "deliveries_pending_endpoint"},
	} {
		rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		// A "SCAN ... USING INDEX" appears only where the query reads one
		// entry (LIMIT 1); a table scan has no index.
		if !strings.Contains(joined, "INDEX "+tc.index) || tableScan.MatchString(joined) || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("plan of %q = %q, want %s without a table scan or sort", tc.query, joined, tc.index)
		}
	}
}

// TestPickFromEndpointsTakesTheOldest compares pickFromEndpoints with the
// oldest due deliveries found by brute force, for backlogs of uneven
// sizes and times, with and without a per-endpoint bound.
func TestPickFromEndpointsTakesTheOldest(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	ctx := context.Background()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for i, n := range []int{40, 3, 17, 1, 25} {
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://x", CreatedAt: now, UpdatedAt: now}
		if err := s.EndpointCreate(ctx, ep, 0); err != nil {
			t.Fatal(err)
		}
		start := now.Add(time.Duration(i*7) * time.Microsecond) // interleaved due times
		fillBacklog(t, s, app.ID, ep.ID, n, start)
		eps = append(eps, ep.ID)
	}
	for _, tc := range []struct{ limit, perEndpoint int }{{10, 0}, {30, 0}, {30, 4}, {200, 0}, {1, 0}} {
		var brute []dueRow
		err := s.w.do(ctx, func(w *wtx) error {
			rows, err := w.query(`SELECT id, endpoint_id, next_attempt_at FROM deliveries WHERE status = 1 ORDER BY next_attempt_at, id`)
			if err != nil {
				return err
			}
			brute, err = collect(rows, scanDueRow)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		per := map[string]int{}
		for _, r := range brute {
			if len(want) < tc.limit && (tc.perEndpoint == 0 || per[r.endpointID] < tc.perEndpoint) {
				per[r.endpointID]++
				want = append(want, r.id)
			}
		}
		var got []string
		err = s.w.do(ctx, func(w *wtx) error {
			var err error
			got, err = pickFromEndpoints(w, herald.ClaimParams{Now: now.Add(time.Hour), Limit: tc.limit, PerEndpoint: tc.perEndpoint}, eps)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("limit %d per endpoint %d: got %d %v\nwant %d %v", tc.limit, tc.perEndpoint, len(got), got, len(want), want)
		}
	}
}
