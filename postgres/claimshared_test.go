package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// TestOwnershipIsDecidedOnTheLatestCommit checks that a node's claim
// cannot take an endpoint that another node took after the claim began:
// the claim waits for the other's transaction and then sees its owner,
// rather than deciding on a snapshot from before.
func TestOwnershipIsDecidedOnTheLatestCommit(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	w := newWorld(t, s, 1)
	w.createMessages(t, time.Now().UTC().Add(-time.Minute), 3)
	ctx := context.Background()
	ep := w.endpoints[0]

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, "INSERT INTO endpoint_owners (endpoint_id, node, until) VALUES ($1, 'x', $2)",
		ep.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		jobs []herald.DeliveryJob
		err  error
	}
	done := make(chan result, 1)
	go func() {
		now := time.Now()
		jobs, err := s.DeliveryClaim(ctx, herald.ClaimParams{Now: now, Limit: 10, Node: "b", LeaseUntil: now.Add(time.Minute)})
		done <- result{jobs, err}
	}()
	// The claim waits for x's uncommitted ownership.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the claim did not wait for the other node's ownership: took %d (err %v)", len(r.jobs), r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the claim never waited for the other node's ownership")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.jobs) != 0 {
		t.Fatalf("claim as b took %d deliveries (err %v) of an endpoint x owns", len(r.jobs), r.err)
	}
}

// TestSharedClaimSkipsLockedDeliveries checks that a node's claim passes
// over a delivery another transaction holds (FOR UPDATE SKIP LOCKED)
// instead of waiting for it, and takes the rest.
func TestSharedClaimSkipsLockedDeliveries(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	w := newWorld(t, s, 1)
	w.createMessages(t, time.Now().UTC().Add(-time.Minute), 3)
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rollback(tx)
	var held string
	if err := tx.QueryRow(ctx, "SELECT id FROM deliveries ORDER BY next_attempt_at LIMIT 1 FOR UPDATE").Scan(&held); err != nil {
		t.Fatal(err)
	}
	claimCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now := time.Now()
	jobs, err := s.DeliveryClaim(claimCtx, herald.ClaimParams{Now: now, Limit: 10, Node: "a", LeaseUntil: now.Add(time.Minute)})
	if err != nil {
		t.Fatalf("claim while a delivery is locked: %v", err)
	}
	if len(jobs) != 2 {
		t.Fatalf("claimed %d, want the 2 deliveries not locked", len(jobs))
	}
	for _, j := range jobs {
		if j.Delivery.ID == held {
			t.Fatal("claimed the delivery another transaction holds")
		}
	}
}
