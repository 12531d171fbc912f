package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// TestRescuePurgesEndedPaces proves that lease rescue deletes the pacing
// rows of throttled endpoints (endpoint_throttle) once their time has
// passed, so that the rows of endpoints no longer throttled, or deleted,
// do not stay for ever; a pace still running stays.
func TestRescuePurgesEndedPaces(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	ctx := context.Background()
	w := newWorld(t, s, 0)
	ep := w.addEndpoint(t)
	rate := 1
	ep.ThrottleRate = &rate
	if err := s.EndpointUpdate(ctx, ep); err != nil {
		t.Fatalf("EndpointUpdate: %v", err)
	}
	now := time.Now().UTC()
	if _, err := s.MessageCreate(ctx, w.newMessage(now, 0), nil); err != nil {
		t.Fatalf("MessageCreate: %v", err)
	}
	jobs, err := s.DeliveryClaim(ctx, herald.ClaimParams{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute), Node: "node-a"})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("DeliveryClaim: %d jobs, %v", len(jobs), err)
	}
	paces := func() int {
		t.Helper()
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM endpoint_throttle").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := paces(); n != 1 {
		t.Fatalf("%d pacing rows after a throttled claim, want 1", n)
	}
	if _, err := s.DeliveryRescue(ctx, now, now); err != nil {
		t.Fatal(err)
	}
	if n := paces(); n != 1 {
		t.Errorf("a running pace was purged (%d rows left)", n)
	}
	if err := s.EndpointDelete(ctx, w.app.ID, ep.ID); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Minute)
	if _, err := s.DeliveryRescue(ctx, later, later); err != nil {
		t.Fatal(err)
	}
	if n := paces(); n != 0 {
		t.Errorf("%d pacing rows of a deleted endpoint left after rescue, want 0", n)
	}
}
