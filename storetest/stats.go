package storetest

import (
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var statsTests = []test{
	{"QueueStats", testQueueStats},
}

// testQueueStats follows the queue's counts as deliveries are created,
// claimed and retried, and counts disabled endpoints.
func testQueueStats(t *testing.T, f *fixture) {
	stats := func(now time.Time) herald.QueueStats {
		t.Helper()
		st, err := f.s.QueueStats(f.ctx, now)
		must(t, err, "QueueStats")
		return st
	}
	if st := stats(at(1_000)); st != (herald.QueueStats{}) {
		t.Fatalf("empty store: %+v", st)
	}
	a := f.app()
	f.endpoint(a.ID)
	other := f.app()
	f.endpoint(other.ID, func(e *herald.Endpoint) { e.Disabled = true })
	var msgs []*herald.Message
	for range 4 {
		m, _ := f.message(a.ID)
		msgs = append(msgs, m)
	}
	if st := stats(msgs[0].CreatedAt.Add(-time.Millisecond)); st.Due != 0 || st.Waiting != 4 || !st.OldestDue.IsZero() {
		t.Errorf("before the first is due: %+v, want 4 waiting, none due", st)
	}
	now := at(1_000)
	st := stats(now)
	if st.Due != 4 || st.Waiting != 0 || st.Sending != 0 || st.EndpointsDisabled != 1 {
		t.Errorf("after creation: %+v, want 4 due, 1 endpoint disabled", st)
	}
	if st.OldestDue.IsZero() || st.OldestDue.After(msgs[0].CreatedAt) {
		t.Errorf("oldest due %v, want at or before the first message's creation %v", st.OldestDue, msgs[0].CreatedAt)
	}
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 2, LeaseUntil: now.Add(time.Minute)})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 2 {
		t.Fatalf("claimed %d, want 2", len(jobs))
	}
	if st := stats(now); st.Due != 2 || st.Sending != 2 {
		t.Errorf("after claiming 2: %+v, want 2 due, 2 sending", st)
	}
	retry := result(jobs[0], herald.StatusPending, 503, at(2_000))
	retry.NextAttemptAt = at(7_000)
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{retry, result(jobs[1], herald.StatusSuccess, 200, at(2_000))}), "DeliveryComplete")
	if st := stats(at(2_000)); st.Due != 2 || st.Sending != 0 || st.Waiting != 1 {
		t.Errorf("after a retry and a success: %+v, want 2 due, 1 waiting, none sending", st)
	}
}
