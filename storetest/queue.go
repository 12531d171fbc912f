package storetest

import (
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var queueTests = []test{
	{"DeliveryComplete", testDeliveryComplete},
	{"DeliveryCompleteSkipsDeleted", testDeliveryCompleteSkipsDeleted},
	{"DeliveryCompleteAnyResponseBytes", testDeliveryCompleteAnyResponseBytes},
	{"DeliveryCompleteAfterResend", testDeliveryCompleteAfterResend},
	{"DeliveryRescue", testDeliveryRescue},
	{"DeliveryNextDue", testDeliveryNextDue},
	{"DeliveryResend", testDeliveryResend},
	{"DeliveryRecover", testDeliveryRecover},
	{"DeliveryNotify", testDeliveryNotify},
	{"EndpointStats", testEndpointStats},
}

// statusOf returns the state of msgID's delivery to endpointID, as listed
// by MessageEndpointList.
func statusOf(t *testing.T, f *fixture, appID, msgID, endpointID string) herald.MessageEndpoint {
	t.Helper()
	page, err := f.s.MessageEndpointList(f.ctx, appID, msgID, herald.ListParams{Limit: herald.MaxListLimit})
	must(t, err, "MessageEndpointList")
	for _, me := range page.Items {
		if me.Endpoint.ID == endpointID {
			return me
		}
	}
	t.Fatalf("message %s has no delivery to %s", msgID, endpointID)
	return herald.MessageEndpoint{}
}

func testDeliveryComplete(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID)
	var msgs []*herald.Message
	for range 3 {
		m, _ := f.message(a.ID)
		msgs = append(msgs, m)
	}
	jobs := f.claimAll(at(1_000))
	if len(jobs) != 3 {
		t.Fatalf("claimed %d, want 3", len(jobs))
	}
	byMsg := map[string]herald.DeliveryJob{}
	for _, j := range jobs {
		byMsg[j.Message.ID] = j
	}
	done := at(2_000)
	ok := result(byMsg[msgs[0].ID], herald.StatusSuccess, 200, done)
	retry := result(byMsg[msgs[1].ID], herald.StatusPending, 503, done)
	retry.NextAttemptAt = at(7_000)
	failed := result(byMsg[msgs[2].ID], herald.StatusFail, 0, done)
	failed.Attempts = 8
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{ok, retry, failed}), "DeliveryComplete")
	must(t, f.s.DeliveryComplete(f.ctx, nil), "DeliveryComplete empty")

	for _, r := range []herald.DeliveryResult{ok, retry, failed} {
		got, err := f.s.AttemptGet(f.ctx, a.ID, r.Attempt.MsgID, r.Attempt.ID)
		must(t, err, "AttemptGet")
		checkAttempt(t, got, &r.Attempt)
	}
	if me := statusOf(t, f, a.ID, msgs[0].ID, e.ID); me.Status != herald.StatusSuccess || me.NextAttemptAt != nil {
		t.Errorf("successful delivery: status %v, next %v", me.Status, me.NextAttemptAt)
	}
	if me := statusOf(t, f, a.ID, msgs[1].ID, e.ID); me.Status != herald.StatusPending || me.NextAttemptAt == nil || !me.NextAttemptAt.Equal(at(7_000)) {
		t.Errorf("retried delivery: status %v, next %v; want pending at %v", me.Status, me.NextAttemptAt, at(7_000))
	}
	if me := statusOf(t, f, a.ID, msgs[2].ID, e.ID); me.Status != herald.StatusFail {
		t.Errorf("failed delivery: status %v", me.Status)
	}
	next, pending, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if !pending || !next.Equal(at(7_000)) {
		t.Fatalf("DeliveryNextDue = %v, %v; want %v", next, pending, at(7_000))
	}
	// Only the retried one comes back, and only when due, with its count.
	if early := f.claimAll(at(6_999)); len(early) != 0 {
		t.Fatalf("claimed %d before the retry was due", len(early))
	}
	again := f.claimAll(at(7_000))
	if len(again) != 1 || again[0].Delivery.ID != retry.Attempt.DeliveryID {
		t.Fatalf("claimed %v, want the retried delivery", jobIDs(again))
	}
	checkFields(t, "retried delivery", field{"Attempts", again[0].Delivery.Attempts, 1},
		field{"Status", again[0].Delivery.Status, herald.StatusSending})
	if rest := f.claimAll(at(100_000_000)); len(rest) != 0 {
		t.Fatalf("finished deliveries claimed again: %v", jobIDs(rest))
	}
}

func testDeliveryCompleteSkipsDeleted(t *testing.T, f *fixture) {
	a := f.app()
	gone, kept := f.endpoint(a.ID), f.endpoint(a.ID)
	m, _ := f.message(a.ID)
	jobs := f.claimAll(at(1_000))
	if len(jobs) != 2 {
		t.Fatalf("claimed %d, want 2", len(jobs))
	}
	must(t, f.s.EndpointDelete(f.ctx, a.ID, gone.ID), "EndpointDelete")
	var results []herald.DeliveryResult
	for i, j := range jobs {
		results = append(results, result(j, herald.StatusSuccess, 200, at(2_000+i)))
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete with a deleted delivery")
	page, err := f.s.AttemptList(f.ctx, a.ID, herald.AttemptFilter{MsgID: m.ID}, herald.ListParams{Limit: 10})
	must(t, err, "AttemptList")
	if len(page.Items) != 1 || page.Items[0].EndpointID != kept.ID {
		t.Fatalf("attempts %v, want only the one to the remaining endpoint", keys(page.Items, func(a herald.Attempt) string { return a.EndpointID }))
	}
	if me := statusOf(t, f, a.ID, m.ID, kept.ID); me.Status != herald.StatusSuccess {
		t.Fatalf("remaining delivery status %v, want success", me.Status)
	}
	// A whole application gone: the result is skipped too.
	b := f.app()
	f.endpoint(b.ID)
	f.message(b.ID)
	jobs = f.claimAll(at(1_000_000))
	must(t, f.s.ApplicationDelete(f.ctx, b.ID), "ApplicationDelete")
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{result(jobs[0], herald.StatusFail, 500, at(1_000_001))}),
		"DeliveryComplete for a deleted application")
}

func testDeliveryRescue(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	f.message(a.ID)
	f.message(a.ID)
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000), Limit: 1, LeaseUntil: at(61_000)})
	must(t, err, "DeliveryClaim")
	later, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000), Limit: 1, LeaseUntil: at(121_000)})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 1 || len(later) != 1 {
		t.Fatal("could not claim two deliveries")
	}
	n, err := f.s.DeliveryRescue(f.ctx, at(61_000), at(61_000))
	must(t, err, "DeliveryRescue")
	if n != 0 {
		t.Fatalf("rescued %d whose lease ends exactly at leaseBefore, want 0", n)
	}
	drain(f.s.DeliveryNotify())
	n, err = f.s.DeliveryRescue(f.ctx, at(61_001), at(70_000))
	must(t, err, "DeliveryRescue")
	if n != 1 {
		t.Fatalf("rescued %d, want 1", n)
	}
	if !notified(f.s.DeliveryNotify()) {
		t.Error("DeliveryRescue did not notify")
	}
	next, ok, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if !ok || !next.Equal(at(70_000)) {
		t.Fatalf("rescued delivery due %v (%v), want now %v", next, ok, at(70_000))
	}
	again := f.claimAll(at(70_000))
	if len(again) != 1 || again[0].Delivery.ID != jobs[0].Delivery.ID {
		t.Fatalf("claimed %v after rescue, want %s", jobIDs(again), jobs[0].Delivery.ID)
	}
	n, err = f.s.DeliveryRescue(f.ctx, at(1_000_000), at(1_000_000))
	must(t, err, "DeliveryRescue all")
	if n != 2 {
		t.Fatalf("rescued %d with every lease expired, want 2", n)
	}
}

func testDeliveryNextDue(t *testing.T, f *fixture) {
	_, ok, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue empty")
	if ok {
		t.Fatal("DeliveryNextDue on an empty store reports a delivery")
	}
	a := f.app()
	f.endpoint(a.ID)
	f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(50_000) })
	f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(20_000) })
	f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(90_000) })
	next, ok, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if !ok || !next.Equal(at(20_000)) {
		t.Fatalf("DeliveryNextDue = %v, %v; want %v", next, ok, at(20_000))
	}
	f.claimAll(at(30_000))
	next, ok, err = f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if !ok || !next.Equal(at(50_000)) {
		t.Fatalf("DeliveryNextDue after claim = %v, %v; want %v", next, ok, at(50_000))
	}
}

func testDeliveryResend(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID)
	m, _ := f.message(a.ID)
	jobs := f.claimAll(at(1_000))
	r := result(jobs[0], herald.StatusFail, 500, at(2_000))
	r.Attempts = 8
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{r}), "DeliveryComplete")

	drain(f.s.DeliveryNotify())
	must(t, f.s.DeliveryResend(f.ctx, a.ID, m.ID, e.ID, at(3_000)), "DeliveryResend")
	if !notified(f.s.DeliveryNotify()) {
		t.Error("DeliveryResend did not notify")
	}
	if me := statusOf(t, f, a.ID, m.ID, e.ID); me.Status != herald.StatusPending {
		t.Fatalf("resent delivery status %v, want pending", me.Status)
	}
	if early := f.claimAll(at(2_999)); len(early) != 0 {
		t.Fatal("resent delivery claimed before the resend time")
	}
	again := f.claimAll(at(3_000))
	if len(again) != 1 {
		t.Fatalf("claimed %d after resend, want 1", len(again))
	}
	checkFields(t, "resent delivery", field{"ID", again[0].Delivery.ID, jobs[0].Delivery.ID},
		field{"Attempts", again[0].Delivery.Attempts, 0}, field{"Trigger", again[0].Delivery.Trigger, herald.TriggerManual})

	// An endpoint made after the message never had a delivery: resend
	// makes one.
	late := f.endpoint(a.ID)
	must(t, f.s.DeliveryResend(f.ctx, a.ID, m.ID, late.ID, at(4_000)), "DeliveryResend to a new endpoint")
	made := f.claimAll(at(4_000))
	if len(made) != 1 || made[0].Endpoint.ID != late.ID {
		t.Fatalf("claimed %v, want a new delivery to %s", jobIDs(made), late.ID)
	}
	checkFields(t, "new resent delivery", field{"Attempts", made[0].Delivery.Attempts, 0},
		field{"Trigger", made[0].Delivery.Trigger, herald.TriggerManual}, field{"MsgID", made[0].Delivery.MsgID, m.ID})

	other := f.app()
	wantCode(t, f.s.DeliveryResend(f.ctx, a.ID, "msg_missing", e.ID, at(5_000)), herald.ENotFound, "DeliveryResend unknown message")
	wantCode(t, f.s.DeliveryResend(f.ctx, a.ID, m.ID, "ep_missing", at(5_000)), herald.ENotFound, "DeliveryResend unknown endpoint")
	wantCode(t, f.s.DeliveryResend(f.ctx, a.ID, m.ID, f.endpoint(other.ID).ID, at(5_000)), herald.ENotFound, "DeliveryResend to another application's endpoint")
	wantCode(t, f.s.DeliveryResend(f.ctx, other.ID, m.ID, e.ID, at(5_000)), herald.ENotFound, "DeliveryResend in another application")
}

func testDeliveryRecover(t *testing.T, f *fixture) {
	a := f.app()
	e, other := f.endpoint(a.ID), f.endpoint(a.ID)
	var msgs []*herald.Message
	for _, ms := range []int{1_000, 2_000, 3_000, 4_000, 5_000} {
		m, _ := f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(ms) })
		msgs = append(msgs, m)
	}
	// Every delivery fails except msgs[2]'s to e, which succeeds.
	var results []herald.DeliveryResult
	for _, j := range f.claimAll(at(10_000)) {
		status := herald.StatusFail
		if j.Message.ID == msgs[2].ID && j.Endpoint.ID == e.ID {
			status = herald.StatusSuccess
		}
		results = append(results, result(j, status, 500, at(11_000)))
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")

	drain(f.s.DeliveryNotify())
	// [2000, 5000): msgs 1, 2 (succeeded: untouched), 3.
	n, err := f.s.DeliveryRecover(f.ctx, a.ID, e.ID, at(2_000), at(5_000), at(20_000))
	must(t, err, "DeliveryRecover")
	if n != 2 {
		t.Fatalf("recovered %d, want 2", n)
	}
	if !notified(f.s.DeliveryNotify()) {
		t.Error("DeliveryRecover did not notify")
	}
	want := map[string]herald.MessageStatus{
		msgs[0].ID: herald.StatusFail, msgs[1].ID: herald.StatusPending, msgs[2].ID: herald.StatusSuccess,
		msgs[3].ID: herald.StatusPending, msgs[4].ID: herald.StatusFail,
	}
	for id, status := range want {
		if me := statusOf(t, f, a.ID, id, e.ID); me.Status != status {
			t.Errorf("message %s: status %v after recover, want %v", id, me.Status, status)
		}
		if me := statusOf(t, f, a.ID, id, other.ID); me.Status != herald.StatusFail {
			t.Errorf("other endpoint's delivery of %s: %v, want it left failed", id, me.Status)
		}
	}
	jobs := f.claimAll(at(20_000))
	if len(jobs) != 2 {
		t.Fatalf("claimed %d recovered deliveries, want 2", len(jobs))
	}
	for _, j := range jobs {
		checkFields(t, "recovered delivery", field{"Attempts", j.Delivery.Attempts, 0},
			field{"Trigger", j.Delivery.Trigger, herald.TriggerManual}, field{"EndpointID", j.Delivery.EndpointID, e.ID})
	}
	n, err = f.s.DeliveryRecover(f.ctx, a.ID, e.ID, at(0), at(100_000), at(30_000))
	must(t, err, "DeliveryRecover again")
	if n != 2 {
		t.Fatalf("second recover: %d, want the 2 still failed", n)
	}
	_, err = f.s.DeliveryRecover(f.ctx, a.ID, "ep_missing", at(0), at(100_000), at(30_000))
	wantCode(t, err, herald.ENotFound, "DeliveryRecover unknown endpoint")
}

func testDeliveryNotify(t *testing.T, f *fixture) {
	ch := f.s.DeliveryNotify()
	if ch == nil || ch != f.s.DeliveryNotify() {
		t.Fatal("DeliveryNotify must return the same non-nil channel every time")
	}
	a := f.app()
	f.endpoint(a.ID)
	drain(ch)
	f.message(a.ID)
	if !notified(ch) {
		t.Fatal("MessageCreate with deliveries did not notify")
	}
	// Several events may merge, but the sender never blocks.
	for range 20 {
		f.message(a.ID)
	}
	if !notified(ch) {
		t.Fatal("no notification after 20 messages")
	}
	jobs := f.claimAll(at(1_000_000))
	r := result(jobs[0], herald.StatusPending, 503, at(1_000_001))
	r.NextAttemptAt = at(1_005_000)
	drain(ch)
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{r}), "DeliveryComplete")
	if !notified(ch) {
		t.Fatal("DeliveryComplete requeuing a delivery did not notify")
	}
}

func testEndpointStats(t *testing.T, f *fixture) {
	a := f.app()
	e, other := f.endpoint(a.ID), f.endpoint(a.ID)
	// Messages at 1s..8s; outcomes for e by index.
	outcome := []herald.MessageStatus{herald.StatusSuccess, herald.StatusSuccess, herald.StatusFail, herald.StatusPending,
		herald.StatusSending, herald.StatusSuccess, herald.StatusFail, herald.StatusPending}
	var msgs []*herald.Message
	for i := range outcome {
		m, _ := f.message(a.ID, func(m *herald.Message) { m.CreatedAt = at(1_000 * (i + 1)) })
		msgs = append(msgs, m)
	}
	var results []herald.DeliveryResult
	for _, j := range f.claimAll(at(100_000)) {
		if j.Endpoint.ID != e.ID {
			results = append(results, result(j, herald.StatusSuccess, 200, at(101_000)))
			continue
		}
		for i, m := range msgs {
			if m.ID == j.Message.ID && outcome[i] != herald.StatusSending {
				r := result(j, outcome[i], 200, at(101_000))
				r.NextAttemptAt = at(200_000)
				results = append(results, r)
			}
		}
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
	tests := []struct {
		since, until time.Time
		want         herald.EndpointStats
	}{
		{at(0), at(100_000), herald.EndpointStats{Success: 3, Fail: 2, Pending: 2, Sending: 1}},
		{at(2_000), at(7_000), herald.EndpointStats{Success: 2, Fail: 1, Pending: 1, Sending: 1}},
		{at(1_000), at(1_001), herald.EndpointStats{Success: 1}},
		{at(8_001), at(100_000), herald.EndpointStats{}},
	}
	for _, tc := range tests {
		got, err := f.s.EndpointStats(f.ctx, a.ID, e.ID, tc.since, tc.until)
		must(t, err, "EndpointStats")
		if got != tc.want {
			t.Errorf("EndpointStats [%v, %v) = %+v, want %+v", tc.since, tc.until, got, tc.want)
		}
	}
	got, err := f.s.EndpointStats(f.ctx, a.ID, other.ID, at(0), at(100_000))
	must(t, err, "EndpointStats other")
	if got != (herald.EndpointStats{Success: 8}) {
		t.Errorf("other endpoint stats %+v, want 8 successes", got)
	}
	_, err = f.s.EndpointStats(f.ctx, a.ID, "ep_missing", at(0), at(100_000))
	wantCode(t, err, herald.ENotFound, "EndpointStats unknown endpoint")
}

// testDeliveryCompleteAnyResponseBytes checks that a response with a NUL
// byte and invalid UTF-8 does not fail the batch it is written in: the
// store keeps it as is or with U+FFFD in their place.
func testDeliveryCompleteAnyResponseBytes(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	f.message(a.ID)
	f.message(a.ID)
	jobs := f.claimAll(at(1_000))
	if len(jobs) != 2 {
		t.Fatalf("claimed %d, want 2", len(jobs))
	}
	odd := result(jobs[0], herald.StatusSuccess, 200, at(2_000))
	odd.Attempt.Response = "bin\x00ary\xff"
	plain := result(jobs[1], herald.StatusSuccess, 200, at(2_000))
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{odd, plain}), "DeliveryComplete")
	got, err := f.s.AttemptGet(f.ctx, a.ID, odd.Attempt.MsgID, odd.Attempt.ID)
	must(t, err, "AttemptGet")
	if got.Response != odd.Attempt.Response && got.Response != "bin\uFFFDary\uFFFD" {
		t.Fatalf("response %q, want %q or %q", got.Response, odd.Attempt.Response, "bin\uFFFDary\uFFFD")
	}
	if _, err := f.s.AttemptGet(f.ctx, a.ID, plain.Attempt.MsgID, plain.Attempt.ID); err != nil {
		t.Fatalf("the other attempt of the batch: %v", err)
	}
}

// testDeliveryCompleteAfterResend checks that a resend made while an
// attempt ran is not undone when that attempt's result is written: the
// attempt is recorded and the delivery stays queued.
func testDeliveryCompleteAfterResend(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID)
	m, _ := f.message(a.ID)
	jobs := f.claimAll(at(1_000))
	if len(jobs) != 1 {
		t.Fatalf("claimed %d, want 1", len(jobs))
	}
	must(t, f.s.DeliveryResend(f.ctx, a.ID, m.ID, e.ID, at(1_500)), "DeliveryResend")
	done := result(jobs[0], herald.StatusFail, 500, at(2_000))
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{done}), "DeliveryComplete")
	if _, err := f.s.AttemptGet(f.ctx, a.ID, m.ID, done.Attempt.ID); err != nil {
		t.Fatalf("the attempt that ran was not recorded: %v", err)
	}
	if me := statusOf(t, f, a.ID, m.ID, e.ID); me.Status != herald.StatusPending {
		t.Fatalf("after the resend, the earlier attempt's result set the delivery to %v, want it still pending", me.Status)
	}
	again := f.claimAll(at(3_000))
	if len(again) != 1 || again[0].Delivery.Trigger != herald.TriggerManual {
		t.Fatalf("the resent delivery: claimed %d, want it, manual", len(again))
	}
}
