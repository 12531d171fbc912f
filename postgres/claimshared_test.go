package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// TestSharedClaimSkipsAnEndpointAnotherClaimHolds checks that a shared
// claim neither waits for nor double-counts an endpoint that another
// node's claim holds: it leaves that endpoint alone for the round and
// claims the others.
func TestSharedClaimSkipsAnEndpointAnotherClaimHolds(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	w := newWorld(t, s, 2)
	base := time.Now().UTC().Add(-time.Minute)
	w.createMessages(t, base, 3) // 3 deliveries to each endpoint
	ctx := context.Background()
	held := w.endpoints[0]

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM endpoints WHERE id = $1 FOR NO KEY UPDATE", held.ID); err != nil {
		t.Fatal(err)
	}
	claimCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p := herald.ClaimParams{Now: time.Now(), Limit: 100, ClusterPerEndpoint: 8, LeaseUntil: time.Now().Add(time.Minute)}
	jobs, err := s.DeliveryClaim(claimCtx, p)
	if err != nil {
		t.Fatalf("DeliveryClaim while another transaction holds an endpoint: %v", err)
	}
	if len(jobs) != 3 {
		t.Fatalf("claimed %d, want the free endpoint's 3", len(jobs))
	}
	for _, j := range jobs {
		if j.Delivery.EndpointID == held.ID {
			t.Fatal("claimed a delivery of the endpoint another claim holds")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	jobs, err = s.DeliveryClaim(ctx, p)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("after the other claim ended: claimed %d (err %v), want the held endpoint's 3", len(jobs), err)
	}
}
