package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var claimTests = []test{
	{"ClaimDueOnly", testClaimDueOnly},
	{"ClaimJob", testClaimJob},
	{"ClaimOrderAndLimit", testClaimOrderAndLimit},
	{"ClaimPerEndpoint", testClaimPerEndpoint},
	{"ClaimExcludeEndpoints", testClaimExcludeEndpoints},
	{"ClaimPastExcludedBacklog", testClaimPastExcludedBacklog},
}

func jobIDs(jobs []herald.DeliveryJob) []string {
	return keys(jobs, func(j herald.DeliveryJob) string { return j.Delivery.ID })
}

func testClaimDueOnly(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	_, early := f.message(a.ID)
	_, late := f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(3_600_000) })
	next, ok, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if !ok || !next.Equal(early[0].NextAttemptAt) {
		t.Fatalf("DeliveryNextDue = %v, %v; want %v", next, ok, early[0].NextAttemptAt)
	}
	// Nothing is due before the first message's time.
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: early[0].NextAttemptAt.Add(-time.Millisecond), Limit: 10, LeaseUntil: at(60_000)})
	must(t, err, "DeliveryClaim early")
	if len(jobs) != 0 {
		t.Fatalf("claimed %d deliveries before they were due", len(jobs))
	}
	// Due exactly at NextAttemptAt.
	lease := at(120_000)
	jobs, err = f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: early[0].NextAttemptAt, Limit: 10, LeaseUntil: lease})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 1 || jobs[0].Delivery.ID != early[0].ID {
		t.Fatalf("claimed %v, want [%s]", jobIDs(jobs), early[0].ID)
	}
	d := jobs[0].Delivery
	checkFields(t, "claimed delivery", field{"Status", d.Status, herald.StatusSending}, field{"LeaseUntil", d.LeaseUntil, lease},
		field{"Attempts", d.Attempts, 0}, field{"Trigger", d.Trigger, herald.TriggerScheduled})
	// A claimed delivery is not claimed again, even long after its lease.
	if again := f.claimAll(at(100_000_000)); len(again) != 1 || again[0].Delivery.ID != late[0].ID {
		t.Fatalf("second claim got %v, want only the late delivery %s", jobIDs(again), late[0].ID)
	}
	if again := f.claimAll(at(100_000_000)); len(again) != 0 {
		t.Fatalf("third claim got %v, want nothing", jobIDs(again))
	}
	_, ok, err = f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if ok {
		t.Fatal("DeliveryNextDue reports a pending delivery after all were claimed")
	}
	jobs, err = f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(100_000_000), Limit: 0, LeaseUntil: at(100_060_000)})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("claim with Limit 0 = %d jobs, %v", len(jobs), err)
	}
}

func testClaimJob(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID, fullEndpoint("uid", at(1_000_000)), func(e *herald.Endpoint) { e.Disabled = false })
	m, _ := f.message(a.ID, func(m *herald.Message) { m.EventID = "evt"; m.Channels = []string{"project_1"} })
	jobs := f.claimAll(at(1_000_000))
	if len(jobs) != 1 {
		t.Fatalf("claimed %d, want 1", len(jobs))
	}
	checkMessage(t, &jobs[0].Message, m)
	checkEndpoint(t, &jobs[0].Endpoint, e)
	checkFields(t, "job delivery", field{"AppID", jobs[0].Delivery.AppID, a.ID}, field{"MsgID", jobs[0].Delivery.MsgID, m.ID},
		field{"EndpointID", jobs[0].Delivery.EndpointID, e.ID})
}

func testClaimOrderAndLimit(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	f.endpoint(a.ID)
	// Messages created out of time order: claims go by due time, not by
	// insertion or ID.
	var want []string
	due := map[string]time.Time{}
	for _, ms := range []int{5000, 1000, 3000, 2000, 4000} {
		_, ds := f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(ms) })
		for _, d := range ds {
			due[d.ID] = d.NextAttemptAt
			want = append(want, d.ID)
		}
	}
	slices.SortFunc(want, func(x, y string) int { return due[x].Compare(due[y]) })
	var got []string
	for {
		jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(10_000), Limit: 3, LeaseUntil: at(70_000)})
		must(t, err, "DeliveryClaim")
		if len(jobs) > 3 {
			t.Fatalf("claimed %d with Limit 3", len(jobs))
		}
		if len(jobs) == 0 {
			break
		}
		for i := 1; i < len(jobs); i++ {
			if jobs[i].Delivery.NextAttemptAt.Before(jobs[i-1].Delivery.NextAttemptAt) {
				t.Fatalf("claim not ordered by due time: %v", jobIDs(jobs))
			}
		}
		got = append(got, jobIDs(jobs)...)
	}
	if len(got) != len(want) {
		t.Fatalf("claimed %d in all, want %d", len(got), len(want))
	}
	for i := range got {
		if !due[got[i]].Equal(due[want[i]]) {
			t.Fatalf("claim %d was due %v, want %v (oldest due first)", i, due[got[i]], due[want[i]])
		}
	}
}

func testClaimPerEndpoint(t *testing.T, f *fixture) {
	a := f.app()
	e1 := f.endpoint(a.ID)
	e2 := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"only.e2"} })
	for range 5 {
		f.message(a.ID, func(m *herald.Message) { m.EventType = "for.e1" })
	}
	for range 5 {
		f.message(a.ID, func(m *herald.Message) { m.EventType = "only.e2" })
	}
	// e1 has 10 due (5 of its own + 5 shared), e2 5.
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000_000), Limit: 100, PerEndpoint: 2, LeaseUntil: at(2_000_000)})
	must(t, err, "DeliveryClaim")
	count := map[string]int{}
	for _, j := range jobs {
		count[j.Delivery.EndpointID]++
	}
	if len(jobs) != 4 || count[e1.ID] != 2 || count[e2.ID] != 2 {
		t.Fatalf("PerEndpoint 2 claimed %v, want 2 for each endpoint", count)
	}
	// The ones claimed per endpoint are that endpoint's oldest.
	rest := f.claimAll(at(1_000_000))
	if len(rest) != 11 {
		t.Fatalf("the rest: %d, want 11", len(rest))
	}
	for _, j := range jobs {
		for _, r := range rest {
			if r.Delivery.EndpointID == j.Delivery.EndpointID && r.Delivery.NextAttemptAt.Before(j.Delivery.NextAttemptAt) {
				t.Fatalf("PerEndpoint claim skipped an older delivery of endpoint %s", j.Delivery.EndpointID)
			}
		}
	}
}

func testClaimExcludeEndpoints(t *testing.T, f *fixture) {
	a := f.app()
	e1, e2, e3 := f.endpoint(a.ID), f.endpoint(a.ID), f.endpoint(a.ID)
	for range 3 {
		f.message(a.ID)
	}
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000_000), Limit: 100,
		ExcludeEndpoints: []string{e1.ID, e3.ID}, LeaseUntil: at(2_000_000)})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 3 {
		t.Fatalf("claimed %d, want the 3 of the one endpoint not excluded", len(jobs))
	}
	for _, j := range jobs {
		if j.Delivery.EndpointID != e2.ID {
			t.Fatalf("claimed a delivery to excluded endpoint %s", j.Delivery.EndpointID)
		}
	}
	if rest := f.claimAll(at(1_000_000)); len(rest) != 6 {
		t.Fatalf("excluded endpoints' deliveries: claimed %d later, want 6", len(rest))
	}
}

// testClaimPastExcludedBacklog checks that a backlog of older due
// deliveries of one endpoint does not hide the others'.
func testClaimPastExcludedBacklog(t *testing.T, f *fixture) {
	a := f.app()
	busy := f.endpoint(a.ID)
	var backlog []*herald.Message
	for range 1500 {
		backlog = append(backlog, f.newMessage(a.ID))
	}
	f.createAll(backlog)
	idle := f.endpoint(a.ID)
	for range 3 {
		f.message(a.ID)
	}
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(10_000_000), Limit: 10,
		ExcludeEndpoints: []string{busy.ID}, LeaseUntil: at(20_000_000)})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 3 {
		t.Fatalf("claimed %d, want the idle endpoint's 3", len(jobs))
	}
	for _, j := range jobs {
		if j.Delivery.EndpointID != idle.ID {
			t.Fatalf("claimed a delivery to %s", j.Delivery.EndpointID)
		}
	}
	jobs, err = f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(10_000_000), Limit: 10, PerEndpoint: 4, LeaseUntil: at(20_000_000)})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 4 {
		t.Fatalf("claimed %d with PerEndpoint 4, want 4 of the busy endpoint", len(jobs))
	}
}
