package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// handoffFixture is a store with ClaimOnCreate, one application and one
// endpoint.
type handoffFixture struct {
	t   *testing.T
	s   *Store
	ctx context.Context
	app *herald.Application
	ep  *herald.Endpoint
}

func newHandoffFixture(t *testing.T) *handoffFixture {
	f := &handoffFixture{t: t, ctx: context.Background()}
	f.s = openTestConfig(t, Config{Path: filepath.Join(t.TempDir(), "h.db"), ClaimOnCreate: true})
	now := time.Now()
	f.app = &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := f.s.ApplicationCreate(f.ctx, f.app); err != nil {
		t.Fatal(err)
	}
	f.ep = f.endpoint("https://one.example/hook")
	return f
}

func (f *handoffFixture) endpoint(url string) *herald.Endpoint {
	now := time.Now()
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: f.app.ID, URL: url,
		Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
	if err := f.s.EndpointCreate(f.ctx, ep, 0); err != nil {
		f.t.Fatal(err)
	}
	return ep
}

// message creates a message at now and returns its deliveries.
func (f *handoffFixture) message(now time.Time) []herald.Delivery {
	f.t.Helper()
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: f.app.ID, EventType: "e",
		Payload: []byte(`{"n":1}`), PayloadRetentionDays: 90, CreatedAt: now}
	ds, err := f.s.MessageCreate(f.ctx, msg, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

// claim claims at now with a one-minute lease.
func (f *handoffFixture) claim(now time.Time, exclude ...string) []herald.DeliveryJob {
	f.t.Helper()
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 100, PerEndpoint: 100,
		ExcludeEndpoints: exclude, LeaseUntil: now.Add(time.Minute)})
	if err != nil {
		f.t.Fatal(err)
	}
	return jobs
}

// status reads a delivery's stored status.
func (f *handoffFixture) status(id string) herald.MessageStatus {
	f.t.Helper()
	var st herald.MessageStatus
	if err := f.s.rdb.QueryRow("SELECT status FROM deliveries WHERE id = ?", id).Scan(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

func TestClaimOnCreateHandsOverInMemory(t *testing.T) {
	f := newHandoffFixture(t)
	now := time.Now()
	if ds := f.message(now); ds[0].Status != herald.StatusPending || f.status(ds[0].ID) != herald.StatusPending {
		t.Fatalf("claimed on create before any engine claimed: %+v", ds[0])
	}
	if jobs := f.claim(now); len(jobs) != 1 {
		t.Fatalf("first claim got %d jobs, want the pending one", len(jobs))
	}
	ds := f.message(now)
	if ds[0].Status != herald.StatusSending || f.status(ds[0].ID) != herald.StatusSending {
		t.Fatalf("not claimed on create while the queue is empty: %+v", ds[0])
	}
	if !ds[0].LeaseUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("lease %v, want the engine's lease length from creation", ds[0].LeaseUntil)
	}
	jobs := f.claim(now)
	if len(jobs) != 1 || jobs[0].Delivery.ID != ds[0].ID {
		t.Fatalf("claim after create got %+v", jobs)
	}
	if string(jobs[0].Message.Payload) != `{"n":1}` || jobs[0].Endpoint.URL != f.ep.URL || len(jobs[0].Endpoint.Secrets) != 1 {
		t.Errorf("handed-over job lacks its message or endpoint: %+v", jobs[0])
	}
	if again := f.claim(now); len(again) != 0 {
		t.Fatalf("a job was handed over twice: %+v", again)
	}
	res := herald.DeliveryResult{Status: herald.StatusSuccess, Attempts: 1, Attempt: herald.Attempt{
		ID: herald.NewID(herald.PrefixAttempt, now), DeliveryID: ds[0].ID, AppID: f.app.ID, MsgID: ds[0].MsgID,
		EndpointID: f.ep.ID, URL: f.ep.URL, Status: herald.StatusSuccess, ResponseStatusCode: 200, CreatedAt: now}}
	if err := f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{res}); err != nil {
		t.Fatal(err)
	}
	if st := f.status(ds[0].ID); st != herald.StatusSuccess {
		t.Fatalf("status after completion %v", st)
	}
}

// TestClaimOnCreateKeepsQueueOrder: while due deliveries wait in the
// database, new ones queue behind them instead of being claimed on create.
func TestClaimOnCreateKeepsQueueOrder(t *testing.T) {
	f := newHandoffFixture(t)
	now := time.Now()
	f.claim(now, f.ep.ID) // the engine excludes the endpoint (busy)
	first := f.message(now)
	if first[0].Status != herald.StatusPending {
		t.Fatalf("claimed on create for an excluded endpoint")
	}
	f.claim(now, f.ep.ID)
	later := f.message(now.Add(time.Millisecond))
	if later[0].Status != herald.StatusPending || f.status(later[0].ID) != herald.StatusPending {
		t.Fatalf("claimed on create ahead of an older due delivery")
	}
	jobs := f.claim(now.Add(time.Second))
	if len(jobs) != 2 || jobs[0].Delivery.ID != first[0].ID || jobs[1].Delivery.ID != later[0].ID {
		t.Fatalf("claim from the queue got %+v, want both in order", jobs)
	}
	if ds := f.message(now.Add(2 * time.Second)); ds[0].Status != herald.StatusSending {
		t.Fatalf("not claimed on create once the queue was drained")
	}
}

// TestClaimOnCreateLeases: rescue returns claimed-on-create deliveries to
// the queue (and out of memory), and a job that waited in memory for half
// its lease goes back to the queue instead of being handed out; each is
// claimed exactly once.
func TestClaimOnCreateLeases(t *testing.T) {
	f := newHandoffFixture(t)
	now := time.Now()
	f.claim(now)
	ds := f.message(now)
	if n, err := f.s.DeliveryRescue(f.ctx, now.Add(time.Hour), now); err != nil || n != 1 {
		t.Fatalf("rescue: %d, %v", n, err)
	}
	if jobs := f.claim(now); len(jobs) != 1 || jobs[0].Delivery.ID != ds[0].ID || f.status(ds[0].ID) != herald.StatusSending {
		t.Fatalf("after rescue: %+v", jobs)
	}
	if jobs := f.claim(now); len(jobs) != 0 {
		t.Fatalf("rescued delivery claimed twice: %+v", jobs)
	}

	ds = f.message(now)
	late := now.Add(40 * time.Second) // 20 s of the 1 min lease left
	jobs := f.claim(late)
	if len(jobs) != 1 || jobs[0].Delivery.ID != ds[0].ID || !jobs[0].Delivery.LeaseUntil.Equal(late.Add(time.Minute)) {
		t.Fatalf("stale job: %+v, want it claimed again from the queue with a new lease", jobs)
	}
	if jobs := f.claim(late); len(jobs) != 0 {
		t.Fatalf("stale job handed out twice: %+v", jobs)
	}
}

// TestClaimOnCreateFollowsEndpointChanges: a job waiting in memory gets
// its endpoint's update, and goes when the endpoint is deleted.
func TestClaimOnCreateFollowsEndpointChanges(t *testing.T) {
	f := newHandoffFixture(t)
	now := time.Now()
	f.claim(now)
	f.message(now)
	f.ep.URL = "https://moved.example/hook"
	if err := f.s.EndpointUpdate(f.ctx, f.ep); err != nil {
		t.Fatal(err)
	}
	if jobs := f.claim(now); len(jobs) != 1 || jobs[0].Endpoint.URL != "https://moved.example/hook" {
		t.Fatalf("after endpoint update: %+v", jobs)
	}
	f.message(now)
	if err := f.s.EndpointDelete(f.ctx, f.app.ID, f.ep.ID); err != nil {
		t.Fatal(err)
	}
	if jobs := f.claim(now); len(jobs) != 0 {
		t.Fatalf("job for a deleted endpoint handed out: %+v", jobs)
	}
}

// TestClaimOnCreateBesideABacklog: an endpoint's due backlog, while the
// engine excludes it (busy, hanging), does not stop other endpoints'
// fresh deliveries from being claimed on create, and claims do not read
// it; once the endpoint is no longer excluded, its backlog is claimed
// oldest first.
func TestClaimOnCreateBesideABacklog(t *testing.T) {
	f := newHandoffFixture(t)
	busy := f.ep
	now := time.Now()
	f.claim(now, busy.ID)
	var backlog []string
	for i := range 5 {
		ds := f.message(now.Add(time.Duration(i) * time.Millisecond))
		if ds[0].Status != herald.StatusPending {
			t.Fatalf("claimed on create for an excluded endpoint")
		}
		backlog = append(backlog, ds[0].ID)
	}
	other := f.endpoint("https://two.example/hook")
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: f.app.ID, EventType: "e",
		Payload: []byte(`{}`), PayloadRetentionDays: 90, CreatedAt: now.Add(time.Second)}
	ds, err := f.s.MessageCreate(f.ctx, msg, []string{other.ID})
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Status != herald.StatusSending {
		t.Fatalf("fresh delivery to an idle endpoint not claimed on create beside another's backlog")
	}
	if jobs := f.claim(now.Add(time.Second), busy.ID); len(jobs) != 1 || jobs[0].Delivery.ID != ds[0].ID {
		t.Fatalf("claim excluding the busy endpoint: %+v", jobs)
	}
	if f.s.due.mayHaveDue(now.Add(time.Second), map[string]bool{busy.ID: true}) {
		t.Error("the due index sends a claim to the database for an excluded endpoint's backlog")
	}
	jobs := f.claim(now.Add(time.Second))
	if len(jobs) != len(backlog) {
		t.Fatalf("claimed %d of the backlog, want %d", len(jobs), len(backlog))
	}
	for i, j := range jobs {
		if j.Delivery.ID != backlog[i] {
			t.Fatalf("backlog claimed out of order at %d", i)
		}
	}
	if next, ok, err := f.s.DeliveryNextDue(f.ctx); err != nil || ok {
		t.Fatalf("next due after the backlog was claimed: %v %v %v", next, ok, err)
	}
}

// TestDueIndexAfterRollback: a transaction rolled back (here, a batch in
// which one operation fails) leaves the due index unknown, and the next
// claim rebuilds it from the table and finds every due delivery.
func TestDueIndexAfterRollback(t *testing.T) {
	f := newHandoffFixture(t)
	now := time.Now()
	f.claim(now, f.ep.ID)
	ds := f.message(now)
	if _, known := f.s.due.candidates(now, nil); !known {
		t.Fatal("due index unknown after a claim")
	}
	err := f.s.w.do(f.ctx, func(w *wtx) error { return herald.Errorf(herald.EInvalid, "fails on purpose") })
	if err == nil {
		t.Fatal("failing operation succeeded")
	}
	if _, known := f.s.due.candidates(now, nil); known {
		t.Fatal("due index still known after a rollback")
	}
	if jobs := f.claim(now); len(jobs) != 1 || jobs[0].Delivery.ID != ds[0].ID {
		t.Fatalf("claim after rebuilding the index: %+v", jobs)
	}
}

// TestDueIndexIsReadAgainWhenOld: rows the due index did not hear of
// (written here behind its back) are claimed once the index is older than
// its maximum age and the next claim reads it from the table again.
func TestDueIndexIsReadAgainWhenOld(t *testing.T) {
	f := newHandoffFixture(t)
	f.s.due.maxAge = 200 * time.Millisecond
	now := time.Now()
	f.claim(now) // reads the index: nothing pending
	fillBacklog(t, f.s, f.app.ID, f.ep.ID, 3, now)
	deadline := time.Now().Add(5 * time.Second)
	var got int
	for got < 3 && time.Now().Before(deadline) {
		got += len(f.claim(time.Now()))
		time.Sleep(20 * time.Millisecond)
	}
	if got != 3 {
		t.Fatalf("claimed %d of the rows the index missed, want 3", got)
	}
}
