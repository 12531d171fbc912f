package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// expungedTests cover messages whose payload is gone: nothing sends them
// again, and what was waiting to send them ends. And the cleanup of ended
// background tasks.
var expungedTests = []test{
	{"MessageExpungeEndsPending", testMessageExpungeEndsPending},
	{"DeliveryResendRecoverExpunged", testDeliveryResendRecoverExpunged},
	{"TaskStepSkipsExpunged", testTaskStepSkipsExpunged},
	{"TaskDeleteExpired", testTaskDeleteExpired},
}

// deliveryStatuses returns the status of each of the message's
// deliveries, by endpoint ID.
func (f *fixture) deliveryStatuses(appID, msgID string) map[string]herald.MessageStatus {
	f.t.Helper()
	page, err := f.s.MessageEndpointList(f.ctx, appID, msgID, herald.ListParams{Limit: 250})
	must(f.t, err, "MessageEndpointList")
	out := map[string]herald.MessageStatus{}
	for _, me := range page.Items {
		out[me.Endpoint.ID] = me.Status
	}
	return out
}

// testMessageExpungeEndsPending: expunging a message's payload ends its
// pending deliveries as failed, without an attempt, and leaves a sending
// one (its attempt is under way) and other messages alone.
func testMessageExpungeEndsPending(t *testing.T, f *fixture) {
	a := f.app()
	ep1, ep2 := f.endpoint(a.ID), f.endpoint(a.ID)
	m, _ := f.message(a.ID)
	other, _ := f.message(a.ID)
	now := f.tick()
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 100, LeaseUntil: now.Add(time.Minute),
		ExcludeEndpoints: []string{ep2.ID}})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 2 {
		t.Fatalf("claimed %d deliveries to the first endpoint, want 2", len(jobs))
	}

	must(t, f.s.MessageExpungeContent(f.ctx, a.ID, m.ID), "MessageExpungeContent")
	got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
	must(t, err, "MessageGet")
	if got.Payload != nil {
		t.Errorf("payload after expunge: %s, want none", got.Payload)
	}
	want := map[string]herald.MessageStatus{ep1.ID: herald.StatusSending, ep2.ID: herald.StatusFail}
	if st := f.deliveryStatuses(a.ID, m.ID); !same(st, want) {
		t.Errorf("deliveries of the expunged message: %v, want %v (the pending one failed, the sending one left)", st, want)
	}
	want = map[string]herald.MessageStatus{ep1.ID: herald.StatusSending, ep2.ID: herald.StatusPending}
	if st := f.deliveryStatuses(a.ID, other.ID); !same(st, want) {
		t.Errorf("deliveries of another message: %v, want %v", st, want)
	}
	attempts, err := f.s.AttemptList(f.ctx, a.ID, herald.AttemptFilter{MsgID: m.ID}, herald.ListParams{Limit: 10})
	must(t, err, "AttemptList")
	if len(attempts.Items) != 0 {
		t.Errorf("expunge recorded %d attempts, want none", len(attempts.Items))
	}
	for _, j := range f.claimAll(f.tick()) {
		if j.Message.ID == m.ID {
			t.Errorf("claimed a delivery of the expunged message: %+v", j.Delivery)
		}
	}
	// Expunging again is harmless.
	must(t, f.s.MessageExpungeContent(f.ctx, a.ID, m.ID), "MessageExpungeContent again")
	wantCode(t, f.s.MessageExpungeContent(f.ctx, a.ID, "msg_missing"), herald.ENotFound, "MessageExpungeContent unknown")
}

// testDeliveryResendRecoverExpunged: a resend of an expunged message is
// refused with ErrPayloadExpunged, and a recovery passes it by.
func testDeliveryResendRecoverExpunged(t *testing.T, f *fixture) {
	a := f.app()
	ep := f.endpoint(a.ID)
	since := f.tick()
	kept, _ := f.message(a.ID)
	gone, _ := f.message(a.ID)
	f.complete(func(string) herald.MessageStatus { return herald.StatusFail })
	must(t, f.s.MessageExpungeContent(f.ctx, a.ID, gone.ID), "MessageExpungeContent")

	err := f.s.DeliveryResend(f.ctx, a.ID, gone.ID, ep.ID, f.tick())
	wantCode(t, err, herald.EConflict, "DeliveryResend of an expunged message")
	if herald.ErrorMessage(err) != herald.ErrorMessage(herald.ErrPayloadExpunged) {
		t.Errorf("DeliveryResend of an expunged message: %v, want ErrPayloadExpunged", err)
	}
	wantCode(t, f.s.DeliveryResend(f.ctx, a.ID, "msg_missing", ep.ID, f.tick()), herald.ENotFound, "DeliveryResend unknown message")
	if st := f.deliveryStatuses(a.ID, gone.ID)[ep.ID]; st != herald.StatusFail {
		t.Errorf("refused resend left the delivery %v, want failed", st)
	}

	n, err := f.s.DeliveryRecover(f.ctx, a.ID, ep.ID, since, time.Time{}, f.tick())
	must(t, err, "DeliveryRecover")
	if n != 1 {
		t.Errorf("DeliveryRecover queued %d, want 1 (not the expunged message)", n)
	}
	if got := f.pendingMsgs(a.ID, ep.ID); !slices.Equal(got, []string{kept.ID}) {
		t.Errorf("pending after recover: %v, want only %s", got, kept.ID)
	}
	must(t, f.s.DeliveryResend(f.ctx, a.ID, kept.ID, ep.ID, f.tick()), "DeliveryResend of a kept message")
}

// testTaskStepSkipsExpunged: replay-missing, recover and bulk-replay never
// queue an expunged message: those they would have queued are counted in
// Skipped.
func testTaskStepSkipsExpunged(t *testing.T, f *fixture) {
	a := f.app()
	missing := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Disabled = true })
	ep := f.endpoint(a.ID)
	since := f.tick()
	m1, _ := f.message(a.ID)
	gone, _ := f.message(a.ID)
	m3, _ := f.message(a.ID)
	f.complete(func(string) herald.MessageStatus { return herald.StatusFail })
	must(t, f.s.MessageExpungeContent(f.ctx, a.ID, gone.ID), "MessageExpungeContent")
	missing.Disabled = false
	must(t, f.s.EndpointUpdate(f.ctx, missing), "EndpointUpdate enable")
	kept := []string{m1.ID, m3.ID}
	slices.Sort(kept)

	run := func(kind string, endpointID string, p herald.TaskParams) *herald.Task {
		t.Helper()
		p.EndpointID, p.Since = endpointID, since
		got, _ := f.stepAll(f.task(a.ID, kind, p).ID, 2)
		return got
	}
	check := func(what string, got *herald.Task, endpointID string) {
		t.Helper()
		if got.Status != herald.TaskFinished || got.Scanned != 3 || got.Queued != 2 || got.Skipped != 1 {
			t.Errorf("%s: %+v, want 3 scanned, 2 queued, 1 skipped", what, got)
		}
		if stored, err := f.s.TaskGet(f.ctx, got.ID); err != nil || stored.Skipped != 1 {
			t.Errorf("%s: stored task %+v, %v; want Skipped 1", what, stored, err)
		}
		if p := f.pendingMsgs(a.ID, endpointID); !slices.Equal(p, kept) {
			t.Errorf("%s: pending %v, want %v", what, p, kept)
		}
	}
	check("replay-missing", run(herald.TaskEndpointReplay, missing.ID, herald.TaskParams{}), missing.ID)
	check("recover", run(herald.TaskEndpointRecover, ep.ID, herald.TaskParams{}), ep.ID)
	f.complete(func(string) herald.MessageStatus { return herald.StatusSuccess })
	check("bulk-replay", run(herald.TaskEndpointBulkReplay, ep.ID, herald.TaskParams{}), ep.ID)
	// A filter that leaves the expunged message out skips nothing.
	success := herald.StatusSuccess
	f.complete(func(string) herald.MessageStatus { return herald.StatusSuccess })
	if got := run(herald.TaskEndpointBulkReplay, ep.ID, herald.TaskParams{Status: &success}); got.Queued != 2 || got.Skipped != 0 {
		t.Errorf("bulk replay of successes: %+v, want 2 queued, none skipped (the expunged delivery failed)", got)
	}
	if st := f.deliveryStatuses(a.ID, gone.ID); st[ep.ID] != herald.StatusFail {
		t.Errorf("the expunged message's delivery: %v, want left failed", st)
	}
}

// testTaskDeleteExpired: ended tasks created and updated before the bound
// go, oldest first and Limit at a time; running tasks and those updated
// since stay.
func testTaskDeleteExpired(t *testing.T, f *fixture) {
	a := f.app()
	mk := func(status string, created, updated time.Time) *herald.Task {
		t.Helper()
		tk := &herald.Task{ID: herald.NewID(herald.PrefixTask, created), AppID: a.ID, Kind: herald.TaskEndpointReplay,
			Status: status, Params: herald.TaskParams{EndpointID: "ep_x"}, CreatedAt: created, UpdatedAt: updated}
		must(t, f.s.TaskCreate(f.ctx, tk), "TaskCreate")
		return tk
	}
	oldFinished := mk(herald.TaskFinished, at(1_000), at(2_000))
	oldFailed := mk(herald.TaskFailed, at(3_000), at(3_500))
	oldRunning := mk(herald.TaskRunning, at(4_000), at(4_000))
	endedLate := mk(herald.TaskFinished, at(5_000), at(60_000))
	recent := mk(herald.TaskFinished, at(70_000), at(70_500))
	bound := at(50_000)

	del := func(limit int) herald.ExpireResult {
		t.Helper()
		res, err := f.s.TaskDeleteExpired(f.ctx, herald.ExpireParams{Before: bound, Limit: limit})
		must(t, err, "TaskDeleteExpired")
		return res
	}
	if res := del(1); res.Changed != 1 || res.Examined != 1 {
		t.Errorf("first batch of 1: %+v", res)
	}
	_, err := f.s.TaskGet(f.ctx, oldFinished.ID)
	wantCode(t, err, herald.ENotFound, "TaskGet of the oldest ended task")
	if _, err := f.s.TaskGet(f.ctx, oldFailed.ID); err != nil {
		t.Errorf("the second oldest went in a batch of 1: %v", err)
	}
	if res := del(10); res.Changed != 1 || res.Examined >= 10 {
		t.Errorf("second batch: %+v, want the failed task only", res)
	}
	if res := del(10); res.Changed != 0 {
		t.Errorf("third batch: %+v, want nothing left", res)
	}
	for _, tk := range []*herald.Task{oldRunning, endedLate, recent} {
		if _, err := f.s.TaskGet(f.ctx, tk.ID); err != nil {
			t.Errorf("task %s (%s, updated %v) deleted: %v", tk.ID, tk.Status, tk.UpdatedAt, err)
		}
	}
	if res, err := f.s.TaskDeleteExpired(f.ctx, herald.ExpireParams{Before: at(100_000), Limit: 0}); err != nil || res.Changed != 0 {
		t.Errorf("Limit 0: %+v, %v", res, err)
	}
}
