package delivery_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
)

// startMaintainer starts a maintainer for node on the env's store with a
// short term and rescue interval; it is stopped when the test ends.
func (e *env) startMaintainer(node string) *delivery.Maintainer {
	e.t.Helper()
	m := delivery.NewMaintainer(delivery.MaintenanceConfig{Node: node, Term: 300 * time.Millisecond,
		RescueInterval: 20 * time.Millisecond}, e.store)
	if err := m.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { m.Stop(context.Background()) })
	return m
}

// leaders returns the maintainers that lead.
func leaders(ms ...*delivery.Maintainer) []*delivery.Maintainer {
	var out []*delivery.Maintainer
	for _, m := range ms {
		if m.Leading() {
			out = append(out, m)
		}
	}
	return out
}

func TestMaintainersElectOneLeaderAndHandOverOnStop(t *testing.T) {
	e := newEnv(t)
	a, b := e.startMaintainer("a"), e.startMaintainer("b")
	waitFor(t, 5*time.Second, "a leader", func() bool { return len(leaders(a, b)) == 1 })
	// Over several terms, never two leaders and never a change.
	first := leaders(a, b)[0]
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if l := leaders(a, b); len(l) > 1 || (len(l) == 1 && l[0] != first) {
			t.Fatalf("leaders %d (first was %s): want %s alone", len(l), first.Node(), first.Node())
		}
		time.Sleep(10 * time.Millisecond)
	}
	other := a
	if first == a {
		other = b
	}
	stopped := time.Now()
	first.Stop(context.Background())
	waitFor(t, 5*time.Second, "the other node to take over", other.Leading)
	// It resigned: the other took over at its next campaign (every
	// term/3), not after the whole term.
	if took := time.Since(stopped); took > 250*time.Millisecond {
		t.Errorf("hand-over took %v after the leader resigned, want about a third of the 300ms term", took)
	}
}

func TestOnlyTheLeaderRescuesExpiredLeases(t *testing.T) {
	e := newEnv(t)
	ep := e.endpoint("https://example.com/hook")
	m := e.send("invoice.paid", `{"n":1}`)
	now := time.Now()
	jobs, err := e.store.DeliveryClaim(e.ctx, herald.ClaimParams{Now: now.Add(time.Second), Limit: 10, LeaseUntil: now.Add(-time.Second)})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, err %v", len(jobs), err)
	}
	// Another node leads for a long term: this one must not rescue.
	if ok, err := e.store.LeaderAttempt(e.ctx, "maintenance", "elsewhere", now, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("LeaderAttempt elsewhere: %v %v", ok, err)
	}
	mt := e.startMaintainer("here")
	time.Sleep(300 * time.Millisecond) // several campaigns and rescue intervals
	if mt.Leading() {
		t.Fatal("took the lead from a node whose term runs")
	}
	if st := e.deliveryStatus(m.ID, ep.ID); st != herald.StatusSending {
		t.Fatalf("a node that does not lead changed the leased delivery to %v", st)
	}
	if err := e.store.LeaderResign(e.ctx, "maintenance", "elsewhere"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the expired lease to be rescued", func() bool {
		return e.deliveryStatus(m.ID, ep.ID) == herald.StatusPending
	})
	if !mt.Leading() {
		t.Fatal("rescued without leading")
	}
}

// TestAttemptNotStartedWhenTheLeaseCannotCoverIt checks that a delivery
// whose lease would end before its attempt could time out is not sent:
// the lease brings it back to the queue, where another process may take
// it, and both must not send it.
func TestAttemptNotStartedWhenTheLeaseCannotCoverIt(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	ep := e.endpoint(rc.URL)
	m := e.send("a.b", `{}`)
	e.start(delivery.Config{Lease: time.Second, RequestTimeout: 5 * time.Second})
	waitFor(t, 5*time.Second, "the claim", func() bool { return e.deliveryStatus(m.ID, ep.ID) == herald.StatusSending })
	time.Sleep(300 * time.Millisecond) // time enough to send, had it been allowed
	if n := len(rc.got()); n != 0 {
		t.Fatalf("sent %d requests under a lease shorter than the request timeout", n)
	}
}

// TestMaintainerDisablesFailingEndpoints checks the leader's auto-disable
// task: an endpoint whose deliveries have failed for AutoDisableAfter is
// disabled, one that succeeds meanwhile is not, and a maintainer with
// AutoDisableAfter 0 disables nothing.
func TestMaintainerDisablesFailingEndpoints(t *testing.T) {
	e := newEnv(t)
	dead := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	alive := newReceiver(t, nil)
	deadEp, aliveEp := e.endpoint(dead.URL), e.endpoint(alive.URL)
	e.start(delivery.Config{})
	off := delivery.NewMaintainer(delivery.MaintenanceConfig{Node: "off", Term: 300 * time.Millisecond}, e.store)
	if err := off.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.send("user.created", `{}`)
	waitFor(t, 10*time.Second, "the dead endpoint to fail", func() bool {
		h, err := e.store.EndpointHealthGet(e.ctx, deadEp.ID)
		return err == nil && h.ConsecutiveFailures > 0
	})
	time.Sleep(300 * time.Millisecond) // the failures are older than the period below, and no one disables them
	if ep, _ := e.store.EndpointGet(e.ctx, e.app.ID, deadEp.ID); ep.Disabled {
		t.Fatal("disabled with auto-disable off")
	}
	off.Stop(context.Background())
	on := delivery.NewMaintainer(delivery.MaintenanceConfig{Node: "on", Term: 300 * time.Millisecond,
		AutoDisableAfter: 200 * time.Millisecond}, e.store)
	if err := on.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { on.Stop(context.Background()) })
	waitFor(t, 10*time.Second, "the dead endpoint to be disabled", func() bool {
		e.send("user.created", `{}`) // keeps it failing (once disabled, it gets no more)
		ep, err := e.store.EndpointGet(e.ctx, e.app.ID, deadEp.ID)
		return err == nil && ep.Disabled && ep.DisabledAt != nil && ep.DisabledReason != ""
	})
	if ep, _ := e.store.EndpointGet(e.ctx, e.app.ID, aliveEp.ID); ep.Disabled {
		t.Error("the healthy endpoint was disabled")
	}
}
