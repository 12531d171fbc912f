package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var lifecycleTests = []test{
	{"Ping", testPing},
	{"ApplicationDeleteCascades", testApplicationDeleteCascades},
	{"Durability", testDurability},
	{"DurabilityOfConcurrentWrites", testDurabilityOfConcurrentWrites},
}

func testPing(t *testing.T, f *fixture) {
	must(t, f.s.Ping(f.ctx), "Ping")
}

func testApplicationDeleteCascades(t *testing.T, f *fixture) {
	a := f.app(func(a *herald.Application) { a.UID = "doomed" })
	keep := f.app()
	e := f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "ep" })
	keepEp := f.endpoint(keep.ID)
	m, _ := f.message(a.ID, func(m *herald.Message) { m.EventID = "evt" })
	f.message(a.ID)
	keepMsg, _ := f.message(keep.ID)
	jobs := f.claimAll(at(1_000_000))
	var results []herald.DeliveryResult
	for _, j := range jobs {
		if j.Message.ID == m.ID || j.Message.ID == keepMsg.ID {
			results = append(results, result(j, herald.StatusSuccess, 200, at(1_000_001)))
		}
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
	_, err := f.s.DeliveryRescue(f.ctx, at(2_000_000_000), at(1_000_002))
	must(t, err, "DeliveryRescue")
	tok := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "cascade", AppID: a.ID, CreatedAt: f.tick()}
	must(t, f.s.TokenCreate(f.ctx, tok), "TokenCreate")

	must(t, f.s.ApplicationDelete(f.ctx, a.ID), "ApplicationDelete")
	_, err = f.s.EndpointGet(f.ctx, a.ID, e.ID)
	wantCode(t, err, herald.ENotFound, "EndpointGet of deleted application")
	_, err = f.s.MessageGet(f.ctx, a.ID, m.ID)
	wantCode(t, err, herald.ENotFound, "MessageGet of deleted application")
	_, err = f.s.AttemptGet(f.ctx, a.ID, m.ID, results[0].Attempt.ID)
	if results[0].Attempt.AppID == a.ID {
		wantCode(t, err, herald.ENotFound, "AttemptGet of deleted application")
	}
	_, err = f.s.TokenGetByHash(f.ctx, "cascade")
	wantCode(t, err, herald.ENotFound, "TokenGetByHash of deleted application")
	// Its deliveries are gone from the queue: only the other
	// application's (already delivered) remain, so nothing is due.
	if _, ok, err := f.s.DeliveryNextDue(f.ctx); err != nil || ok {
		t.Fatalf("DeliveryNextDue after cascade: pending %v, err %v", ok, err)
	}
	// The other application is untouched.
	if me := statusOf(t, f, keep.ID, keepMsg.ID, keepEp.ID); me.Status != herald.StatusSuccess {
		t.Fatalf("other application's delivery status %v", me.Status)
	}
	page, err := f.s.AttemptList(f.ctx, keep.ID, herald.AttemptFilter{}, herald.ListParams{Limit: 10})
	must(t, err, "AttemptList other")
	if len(page.Items) != 1 {
		t.Fatalf("other application has %d attempts, want 1", len(page.Items))
	}
	// Its aliases are free again.
	b := f.app(func(a *herald.Application) { a.UID = "doomed" })
	f.endpoint(b.ID, func(e *herald.Endpoint) { e.UID = "ep" })
	f.message(b.ID, func(m *herald.Message) { m.EventID = "evt" })
}

func testDurability(t *testing.T, f *fixture) {
	if f.h.Reopen == nil {
		t.Skip("harness has no Reopen")
	}
	a := f.app(func(a *herald.Application) { a.UID = "durable"; a.Metadata = map[string]string{"k": "v"} })
	e := f.endpoint(a.ID, fullEndpoint("ep", at(5_000_000)), func(e *herald.Endpoint) { e.Disabled, e.Channels = false, nil })
	now := f.tick()
	et := &herald.EventType{Name: "invoice.paid", Schemas: json.RawMessage(`{"1":{}}`), CreatedAt: now, UpdatedAt: now}
	must(t, f.s.EventTypeCreate(f.ctx, et), "EventTypeCreate")
	m1, _ := f.message(a.ID, func(m *herald.Message) { m.EventID = "one" })
	m2, _ := f.message(a.ID)
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000_000), Limit: 1, LeaseUntil: at(1_060_000)})
	must(t, err, "DeliveryClaim")
	if len(jobs) != 1 {
		t.Fatalf("claimed %d, want 1", len(jobs))
	}
	r := result(jobs[0], herald.StatusPending, 503, at(1_000_001))
	r.NextAttemptAt = at(1_005_000)
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{r}), "DeliveryComplete")
	claimed, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000_000), Limit: 1, LeaseUntil: at(1_060_000)})
	must(t, err, "DeliveryClaim second")
	if len(claimed) != 1 {
		t.Fatalf("second claim got %d, want 1", len(claimed))
	}
	tok := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "h", AppID: a.ID, CreatedAt: f.tick()}
	must(t, f.s.TokenCreate(f.ctx, tok), "TokenCreate")
	must(t, f.s.IdempotencyPut(f.ctx, &herald.IdempotentResponse{Key: "k", StatusCode: 202, Body: []byte("{}"), ExpiresAt: at(9_000_000)}), "IdempotencyPut")

	f.reopen()

	gotApp, err := f.s.ApplicationGet(f.ctx, "durable")
	must(t, err, "ApplicationGet after reopen")
	checkApp(t, gotApp, a)
	gotEp, err := f.s.EndpointGet(f.ctx, a.ID, "ep")
	must(t, err, "EndpointGet after reopen")
	checkEndpoint(t, gotEp, e)
	gotET, err := f.s.EventTypeGet(f.ctx, "invoice.paid")
	must(t, err, "EventTypeGet after reopen")
	checkEventType(t, gotET, et)
	for _, m := range []*herald.Message{m1, m2} {
		got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
		must(t, err, "MessageGet after reopen")
		checkMessage(t, got, m)
	}
	gotAttempt, err := f.s.AttemptGet(f.ctx, a.ID, r.Attempt.MsgID, r.Attempt.ID)
	must(t, err, "AttemptGet after reopen")
	checkAttempt(t, gotAttempt, &r.Attempt)
	_, err = f.s.TokenGetByHash(f.ctx, "h")
	must(t, err, "TokenGetByHash after reopen")
	_, err = f.s.IdempotencyGet(f.ctx, "k", at(0))
	must(t, err, "IdempotencyGet after reopen")
	// Queue state survives: one delivery pending at its retry time, one
	// sending under its lease.
	next, ok, err := f.s.DeliveryNextDue(f.ctx)
	must(t, err, "DeliveryNextDue after reopen")
	if !ok || !next.Equal(at(1_005_000)) {
		t.Fatalf("DeliveryNextDue after reopen = %v, %v; want %v", next, ok, at(1_005_000))
	}
	if me := statusOf(t, f, a.ID, claimed[0].Message.ID, e.ID); me.Status != herald.StatusSending {
		t.Fatalf("claimed delivery status after reopen %v, want sending", me.Status)
	}
	n, err := f.s.DeliveryRescue(f.ctx, at(1_060_001), at(1_070_000))
	must(t, err, "DeliveryRescue after reopen")
	if n != 1 {
		t.Fatalf("rescued %d after reopen, want 1", n)
	}
}

func testDurabilityOfConcurrentWrites(t *testing.T, f *fixture) {
	if f.h.Reopen == nil {
		t.Skip("harness has no Reopen")
	}
	a := f.app()
	f.endpoint(a.ID)
	var msgs []*herald.Message
	for range 100 {
		msgs = append(msgs, f.newMessage(a.ID))
	}
	// Writes still running when Close is called either finish before it
	// returns or fail; every one that succeeded must be there afterwards.
	var wg sync.WaitGroup
	ok := make([]bool, len(msgs))
	for i, m := range msgs {
		wg.Go(func() {
			_, err := f.s.MessageCreate(f.ctx, m, nil)
			ok[i] = err == nil
		})
	}
	wg.Wait()
	f.reopen()
	for i, m := range msgs {
		if !ok[i] {
			t.Fatalf("MessageCreate %d failed", i)
		}
		if _, err := f.s.MessageGet(f.ctx, a.ID, m.ID); err != nil {
			t.Fatalf("message %d lost after reopen: %v", i, err)
		}
	}
	if jobs := f.claimAll(at(1_000_000)); len(jobs) != len(msgs) {
		t.Fatalf("%d deliveries after reopen, want %d", len(jobs), len(msgs))
	}
}

var concurrencyTests = []test{
	{"ConcurrentMessageCreate", testConcurrentMessageCreate},
	{"ConcurrentEventIDConflict", testConcurrentEventIDConflict},
	{"ConcurrentClaims", testConcurrentClaims},
	{"ConcurrentPipeline", testConcurrentPipeline},
}

func testConcurrentMessageCreate(t *testing.T, f *fixture) {
	a := f.app()
	e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
	var msgs []*herald.Message
	for range 200 {
		msgs = append(msgs, f.newMessage(a.ID))
	}
	out := f.createAll(msgs)
	for i, ds := range out {
		if len(ds) != 2 {
			t.Fatalf("message %d: %d deliveries, want 2", i, len(ds))
		}
	}
	var listed int
	p := herald.ListParams{Limit: herald.MaxListLimit}
	for {
		page, err := f.s.MessageList(f.ctx, a.ID, herald.MessageFilter{}, p)
		must(t, err, "MessageList")
		listed += len(page.Items)
		if page.Done {
			break
		}
		p.Iterator = page.Iterator
	}
	if listed != 200 {
		t.Fatalf("listed %d messages, want 200", listed)
	}
	seen := map[string]bool{}
	for _, j := range f.claimAll(at(1_000_000)) {
		k := j.Message.ID + "/" + j.Endpoint.ID
		if seen[k] {
			t.Fatalf("delivery %s twice", k)
		}
		seen[k] = true
	}
	for _, m := range msgs {
		if !seen[m.ID+"/"+e1.ID] || !seen[m.ID+"/"+e2.ID] {
			t.Fatalf("message %s lost a delivery", m.ID)
		}
	}
}

func testConcurrentEventIDConflict(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		m := f.newMessage(a.ID, func(m *herald.Message) { m.EventID = "race" })
		wg.Go(func() { _, errs[i] = f.s.MessageCreate(f.ctx, m, nil) })
	}
	wg.Wait()
	var won int
	for _, err := range errs {
		switch herald.ErrorCode(err) {
		case "":
			won++
		case herald.EConflict:
		default:
			t.Fatalf("MessageCreate: %v, want success or conflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates with one eventId succeeded, want 1", won)
	}
	if jobs := f.claimAll(at(1_000_000)); len(jobs) != 1 {
		t.Fatalf("%d deliveries, want 1", len(jobs))
	}
}

func testConcurrentClaims(t *testing.T, f *fixture) {
	a := f.app()
	for range 3 {
		f.endpoint(a.ID)
	}
	var msgs []*herald.Message
	for range 100 {
		msgs = append(msgs, f.newMessage(a.ID))
	}
	f.createAll(msgs)
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(1_000_000), Limit: 7, PerEndpoint: 3, LeaseUntil: at(2_000_000)})
				if err != nil {
					t.Errorf("DeliveryClaim: %v", err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					claimed[j.Delivery.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != 300 {
		t.Fatalf("claimed %d distinct deliveries, want 300", len(claimed))
	}
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("delivery %s claimed %d times", id, n)
		}
	}
}

// pipelineWorker claims and completes deliveries, counting attempts, until
// stop is closed and nothing is due.
func pipelineWorker(t *testing.T, f *fixture, stop <-chan struct{}, mu *sync.Mutex, attempts map[string]int) {
	for {
		jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: at(10_000_000), Limit: 5, LeaseUntil: at(20_000_000)})
		if err != nil {
			t.Errorf("DeliveryClaim: %v", err)
			return
		}
		if len(jobs) == 0 {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				continue
			}
		}
		var results []herald.DeliveryResult
		mu.Lock()
		for i, j := range jobs {
			attempts[j.Delivery.ID]++
			results = append(results, result(j, herald.StatusSuccess, 200, at(10_000_000+i)))
		}
		mu.Unlock()
		if err := f.s.DeliveryComplete(f.ctx, results); err != nil {
			t.Errorf("DeliveryComplete: %v", err)
			return
		}
	}
}

// testConcurrentPipeline runs producers and workers at once, as the engine
// does, and checks that every delivery ends delivered exactly once.
func testConcurrentPipeline(t *testing.T, f *fixture) {
	a := f.app()
	for range 4 {
		f.endpoint(a.ID)
	}
	const producers, perProducer = 5, 20
	var msgs [producers][]*herald.Message
	for p := range producers {
		for range perProducer {
			msgs[p] = append(msgs[p], f.newMessage(a.ID))
		}
	}
	var produced sync.WaitGroup
	for p := range producers {
		produced.Go(func() {
			for _, m := range msgs[p] {
				if _, err := f.s.MessageCreate(f.ctx, m, nil); err != nil {
					t.Errorf("MessageCreate: %v", err)
				}
			}
		})
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	stop := make(chan struct{})
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() { pipelineWorker(t, f, stop, &mu, attempts) })
	}
	produced.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(attempts)
		mu.Unlock()
		if n == producers*perProducer*4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	workers.Wait()
	if len(attempts) != producers*perProducer*4 {
		t.Fatalf("%d deliveries attempted, want %d", len(attempts), producers*perProducer*4)
	}
	for id, n := range attempts {
		if n != 1 {
			t.Fatalf("delivery %s attempted %d times", id, n)
		}
	}
	page, err := f.s.AttemptList(f.ctx, a.ID, herald.AttemptFilter{Status: ptr(herald.StatusSuccess)}, herald.ListParams{Limit: herald.MaxListLimit})
	must(t, err, "AttemptList")
	total := len(page.Items)
	for !page.Done {
		page, err = f.s.AttemptList(f.ctx, a.ID, herald.AttemptFilter{Status: ptr(herald.StatusSuccess)},
			herald.ListParams{Limit: herald.MaxListLimit, Iterator: page.Iterator})
		must(t, err, "AttemptList")
		total += len(page.Items)
	}
	if total != producers*perProducer*4 {
		t.Fatalf("%d attempts stored, want %d", total, producers*perProducer*4)
	}
}
