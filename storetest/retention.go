package storetest

import (
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var retentionTests = []test{
	{"MessageDeliverAt", testMessageDeliverAt},
	{"MessagePayloadExpiryDefault", testMessagePayloadExpiryDefault},
	{"MessagePayloadExpire", testMessagePayloadExpire},
	{"MessagePayloadExpireBatches", testMessagePayloadExpireBatches},
	{"AttemptResponseExpire", testAttemptResponseExpire},
	{"AttemptDeleteExpired", testAttemptDeleteExpired},
}

// testMessageDeliverAt: a scheduled message's deliveries are pending and
// due at its deliverAt, and no claim takes them before (a store that
// claims on create included: the claim first makes its engine look
// active); a deliverAt in the past means at once.
func testMessageDeliverAt(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	f.claimAll(f.tick())
	m := f.newMessage(a.ID)
	when := m.CreatedAt.Add(10 * time.Second)
	m.DeliverAt = &when
	ds, err := f.s.MessageCreate(f.ctx, m, nil)
	must(t, err, "MessageCreate")
	if len(ds) != 1 || ds[0].Status != herald.StatusPending || !ds[0].NextAttemptAt.Equal(when) {
		t.Fatalf("deliveries %+v, want one pending due at %v", ds, when)
	}
	got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
	must(t, err, "MessageGet")
	checkMessage(t, got, m)
	if jobs := f.claimAll(when.Add(-time.Millisecond)); len(jobs) != 0 {
		t.Fatalf("claimed %d deliveries before deliverAt", len(jobs))
	}
	next, ok, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue")
	if !ok || !next.Equal(when) {
		t.Fatalf("DeliveryNextDue = %v, %v; want %v", next, ok, when)
	}
	jobs := f.claimAll(when)
	if len(jobs) != 1 || jobs[0].Message.ID != m.ID || !same(jobs[0].Message.DeliverAt, m.DeliverAt) {
		t.Fatalf("claimed %d deliveries at deliverAt, want the scheduled one", len(jobs))
	}

	// A deliverAt before the message's creation: due at its creation.
	past := f.newMessage(a.ID)
	before := past.CreatedAt.Add(-time.Hour)
	past.DeliverAt = &before
	ds, err = f.s.MessageCreate(f.ctx, past, nil)
	must(t, err, "MessageCreate past deliverAt")
	if len(ds) != 1 || (ds[0].Status == herald.StatusPending && !ds[0].NextAttemptAt.Equal(past.CreatedAt)) {
		t.Fatalf("deliveries %+v, want one due at creation %v", ds, past.CreatedAt)
	}
	if jobs := f.claimAll(past.CreatedAt); len(jobs) != 1 {
		t.Fatalf("claimed %d deliveries of a message with a past deliverAt, want 1", len(jobs))
	}
}

// testMessagePayloadExpiryDefault: without PayloadExpiresAt, a payload
// expires PayloadRetentionDays days after creation.
func testMessagePayloadExpiryDefault(t *testing.T, f *fixture) {
	a := f.app()
	m, _ := f.message(a.ID, func(m *herald.Message) { m.PayloadRetentionDays = 7 })
	got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
	must(t, err, "MessageGet")
	if want := m.CreatedAt.Add(7 * 24 * time.Hour); !got.PayloadExpiresAt.Equal(want) {
		t.Fatalf("PayloadExpiresAt = %v, want %v", got.PayloadExpiresAt, want)
	}
	expire := func(before time.Time) herald.ExpireResult {
		res, err := f.s.MessagePayloadExpire(f.ctx, herald.ExpireParams{Before: before, Limit: 10})
		must(t, err, "MessagePayloadExpire")
		return res
	}
	if res := expire(m.CreatedAt.Add(7*24*time.Hour - time.Millisecond)); res.Changed != 0 || res.Examined != 0 {
		t.Fatalf("before expiry: %+v, want nothing", res)
	}
	if res := expire(m.CreatedAt.Add(7*24*time.Hour + time.Millisecond)); res.Changed != 1 {
		t.Fatalf("after expiry: %+v, want 1 changed", res)
	}
}

// expiredMessage creates a message of appID whose payload expired at
// expires.
func (f *fixture) expiredMessage(appID string, expires time.Time) *herald.Message {
	f.t.Helper()
	m, _ := f.message(appID, func(m *herald.Message) { m.PayloadExpiresAt = expires })
	return m
}

// testMessagePayloadExpire: expired payloads go, the message record and
// its attempts stay; messages with pending or sending deliveries keep
// theirs until those are done; unexpired payloads stay.
func testMessagePayloadExpire(t *testing.T, f *fixture) {
	a := f.app()
	ep := f.endpoint(a.ID)
	expiry := at(500_000)
	done := f.expiredMessage(a.ID, expiry)
	// done's delivery succeeds: it has an attempt.
	jobs := f.claimAll(at(100_000))
	if len(jobs) != 1 {
		t.Fatalf("claimed %d, want 1", len(jobs))
	}
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{result(jobs[0], herald.StatusSuccess, 200, at(100_001))}), "DeliveryComplete")
	pending := f.expiredMessage(a.ID, expiry)
	sending := f.expiredMessage(a.ID, expiry)
	// pending's and sending's deliveries are claimed, then pending's queued
	// again.
	f.claimAll(sending.CreatedAt)
	must(t, f.s.DeliveryResend(f.ctx, a.ID, pending.ID, ep.ID, at(100_002)), "DeliveryResend")
	fresh := f.expiredMessage(a.ID, at(900_000))

	res, err := f.s.MessagePayloadExpire(f.ctx, herald.ExpireParams{Before: at(600_000), Limit: 10})
	must(t, err, "MessagePayloadExpire")
	if res.Changed != 1 || res.Examined != 3 {
		t.Fatalf("result %+v, want 1 changed of 3 examined", res)
	}
	got, err := f.s.MessageGet(f.ctx, a.ID, done.ID)
	must(t, err, "MessageGet expired")
	want := *done
	want.Payload = nil
	checkMessage(t, got, &want)
	page, err := f.s.AttemptList(f.ctx, a.ID, herald.AttemptFilter{MsgID: done.ID}, herald.ListParams{Limit: 10})
	must(t, err, "AttemptList")
	if len(page.Items) != 1 || page.Items[0].Response == "" {
		t.Fatalf("attempts of the expunged message: %+v, want its one attempt kept", page.Items)
	}
	for _, m := range []*herald.Message{pending, sending, fresh} {
		got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
		must(t, err, "MessageGet kept")
		checkMessage(t, got, m)
	}
	// Once their deliveries are done, the skipped ones go too.
	_, err = f.s.DeliveryRescue(f.ctx, at(200_000), at(200_000)) // sending's lease ends
	must(t, err, "DeliveryRescue")
	var results []herald.DeliveryResult
	for _, j := range f.claimAll(at(200_000)) {
		results = append(results, result(j, herald.StatusFail, 500, at(200_001)))
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
	res, err = f.s.MessagePayloadExpire(f.ctx, herald.ExpireParams{Before: at(600_000), Limit: 10})
	must(t, err, "MessagePayloadExpire again")
	if res.Changed != 2 || res.Examined != 2 {
		t.Fatalf("second result %+v, want 2 changed of 2 examined", res)
	}
	for _, m := range []*herald.Message{pending, sending} {
		got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
		must(t, err, "MessageGet")
		if got.Payload != nil {
			t.Errorf("message %s keeps its payload %s after its deliveries ended", m.ID, got.Payload)
		}
	}
	got, err = f.s.MessageGet(f.ctx, a.ID, fresh.ID)
	must(t, err, "MessageGet fresh")
	checkMessage(t, got, fresh)
}

// testMessagePayloadExpireBatches: a batch examines at most Limit
// messages, oldest expiry first, and resumes after its cursor.
func testMessagePayloadExpireBatches(t *testing.T, f *fixture) {
	a := f.app()
	var ids []string
	for i := range 5 {
		m := f.expiredMessage(a.ID, at(500_000-i)) // expiry in reverse creation order
		ids = append([]string{m.ID}, ids...)
	}
	var gone []string
	var after herald.ExpireCursor
	for round := 0; ; round++ {
		if round > 5 {
			t.Fatal("batches did not end")
		}
		res, err := f.s.MessagePayloadExpire(f.ctx, herald.ExpireParams{Before: at(600_000), Limit: 2, After: after})
		must(t, err, "MessagePayloadExpire")
		if res.Examined > 2 || res.Changed != res.Examined {
			t.Fatalf("batch %d: %+v, want at most 2 examined, all changed", round, res)
		}
		for _, id := range ids[len(gone) : len(gone)+res.Changed] {
			got, err := f.s.MessageGet(f.ctx, a.ID, id)
			must(t, err, "MessageGet")
			if got.Payload != nil {
				t.Fatalf("batch %d: message %s (by expiry order) keeps its payload", round, id)
			}
			gone = append(gone, id)
		}
		if res.Examined < 2 {
			break
		}
		if res.Next.ID != gone[len(gone)-1] {
			t.Fatalf("batch %d: cursor %+v, want the last message expunged %s", round, res.Next, gone[len(gone)-1])
		}
		after = res.Next
	}
	if len(gone) != 5 {
		t.Fatalf("expunged %d payloads, want 5", len(gone))
	}
}

// attemptsAt makes one attempt at each of the times given, for
// deliveries of new messages of a new application, and returns them.
func (f *fixture) attemptsAt(times ...time.Time) (*herald.Application, []herald.Attempt) {
	f.t.Helper()
	a := f.app()
	f.endpoint(a.ID)
	var out []herald.Attempt
	for _, when := range times {
		m, _ := f.message(a.ID)
		var job *herald.DeliveryJob
		for _, j := range f.claimAll(when) {
			if j.Message.ID == m.ID {
				job = &j
			}
		}
		if job == nil {
			f.t.Fatalf("message %s not claimed", m.ID)
		}
		r := result(*job, herald.StatusSuccess, 200, when)
		must(f.t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{r}), "DeliveryComplete")
		out = append(out, r.Attempt)
	}
	return a, out
}

// testAttemptResponseExpire: response bodies of attempts made before the
// bound are emptied, at most Limit per batch, oldest first; the attempts
// stay.
func testAttemptResponseExpire(t *testing.T, f *fixture) {
	a, atts := f.attemptsAt(at(100_000), at(200_000), at(300_000), at(400_000))
	expire := func(limit int) herald.ExpireResult {
		res, err := f.s.AttemptResponseExpire(f.ctx, herald.ExpireParams{Before: at(350_000), Limit: limit})
		must(t, err, "AttemptResponseExpire")
		return res
	}
	if res := expire(2); res.Changed != 2 || res.Examined != 2 {
		t.Fatalf("first batch %+v, want 2", res)
	}
	check := func(emptied int) {
		t.Helper()
		for i, want := range atts {
			got, err := f.s.AttemptGet(f.ctx, a.ID, want.MsgID, want.ID)
			must(t, err, "AttemptGet")
			if i < emptied {
				want.Response = ""
			}
			checkAttempt(t, got, &want)
		}
	}
	check(2)
	if res := expire(2); res.Changed != 1 || res.Examined != 1 {
		t.Fatalf("second batch %+v, want 1", res)
	}
	check(3)
	if res := expire(2); res.Changed != 0 {
		t.Fatalf("third batch %+v, want nothing left", res)
	}
}

// testAttemptDeleteExpired: attempts made before the bound are deleted, at
// most Limit per batch, oldest first; their messages stay.
func testAttemptDeleteExpired(t *testing.T, f *fixture) {
	a, atts := f.attemptsAt(at(100_000), at(200_000), at(300_000))
	res, err := f.s.AttemptDeleteExpired(f.ctx, herald.ExpireParams{Before: at(250_000), Limit: 1})
	must(t, err, "AttemptDeleteExpired")
	if res.Changed != 1 || res.Examined != 1 {
		t.Fatalf("first batch %+v, want 1", res)
	}
	_, err = f.s.AttemptGet(f.ctx, a.ID, atts[0].MsgID, atts[0].ID)
	wantCode(t, err, herald.ENotFound, "AttemptGet deleted")
	for _, kept := range atts[1:] {
		got, err := f.s.AttemptGet(f.ctx, a.ID, kept.MsgID, kept.ID)
		must(t, err, "AttemptGet kept")
		checkAttempt(t, got, &kept)
	}
	res, err = f.s.AttemptDeleteExpired(f.ctx, herald.ExpireParams{Before: at(250_000), Limit: 10})
	must(t, err, "AttemptDeleteExpired")
	if res.Changed != 1 {
		t.Fatalf("second batch %+v, want 1", res)
	}
	for _, a2 := range atts[:2] {
		if _, err := f.s.MessageGet(f.ctx, a.ID, a2.MsgID); err != nil {
			t.Fatalf("message of a deleted attempt: %v", err)
		}
	}
	if _, err := f.s.AttemptGet(f.ctx, a.ID, atts[2].MsgID, atts[2].ID); err != nil {
		t.Fatalf("attempt after the bound: %v", err)
	}
}
