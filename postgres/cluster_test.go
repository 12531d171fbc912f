package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// Tests of several stores on one schema, as several Herald nodes on one
// database.

// world is an application with endpoints in a store.
type world struct {
	s         *Store
	app       *herald.Application
	endpoints []*herald.Endpoint
	seq       int
}

// newWorld creates an application with n endpoints in s.
func newWorld(t *testing.T, s *Store, n int) *world {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	w := &world{s: s, app: &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "app", CreatedAt: now, UpdatedAt: now}}
	if err := s.ApplicationCreate(ctx, w.app); err != nil {
		t.Fatalf("ApplicationCreate: %v", err)
	}
	for range n {
		w.addEndpoint(t)
	}
	return w
}

// addEndpoint creates one more endpoint.
func (w *world) addEndpoint(t *testing.T) *herald.Endpoint {
	t.Helper()
	now := time.Now().UTC()
	e := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: w.app.ID, URL: "https://example.com/hook",
		Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
	if err := w.s.EndpointCreate(context.Background(), e, 0); err != nil {
		t.Fatalf("EndpointCreate: %v", err)
	}
	w.endpoints = append(w.endpoints, e)
	return e
}

// newMessage returns an unsaved message created at base plus n
// milliseconds.
func (w *world) newMessage(base time.Time, n int) *herald.Message {
	w.seq++
	now := base.Add(time.Duration(n) * time.Millisecond)
	return &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: w.app.ID, EventType: "invoice.paid",
		Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, w.seq)), PayloadRetentionDays: 90, CreatedAt: now}
}

// createMessages creates n messages concurrently, the i-th due at base
// plus i milliseconds.
func (w *world) createMessages(t *testing.T, base time.Time, n int) {
	t.Helper()
	msgs := make([]*herald.Message, n)
	for i := range msgs {
		msgs[i] = w.newMessage(base, i)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range msgs {
		wg.Go(func() { _, errs[i] = w.s.MessageCreate(context.Background(), m, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("MessageCreate: %v", err)
		}
	}
}

func TestConcurrentMigrations(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	const nodes = 6
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), Config{URL: url, Schema: schema, MaxConns: 2}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of %d at once: %v", i, nodes, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	checkMigrations(t, stores[0], all)
	// Every node works on the one schema.
	w := newWorld(t, stores[0], 1)
	for i, s := range stores {
		if _, err := s.ApplicationGet(context.Background(), w.app.ID); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
}

func TestNotifyAcrossStores(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	a, b := openTest(t, url, schema), openTest(t, url, schema)
	other := openTest(t, url, newSchema(t, url))
	w := newWorld(t, a, 1)
	drain(b.DeliveryNotify())
	drain(other.DeliveryNotify())
	if _, err := a.MessageCreate(context.Background(), w.newMessage(time.Now(), 0), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.DeliveryNotify():
	case <-time.After(5 * time.Second):
		t.Fatal("a message created through store A did not wake store B")
	}
	select {
	case <-other.DeliveryNotify():
		t.Fatal("a message in one schema woke a store on another schema")
	case <-time.After(200 * time.Millisecond):
	}
}

// drain empties a notify channel.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestConcurrentClaimsAcrossStores(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	stores := []*Store{openTest(t, url, schema), openTest(t, url, schema), openTest(t, url, schema)}
	w := newWorld(t, stores[0], 4)
	base := time.Now().Add(-time.Hour)
	w.createMessages(t, base, 150)
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for _, s := range stores {
		for range 3 {
			wg.Go(func() {
				for {
					jobs, err := s.DeliveryClaim(context.Background(), herald.ClaimParams{Now: time.Now(), Limit: 9,
						PerEndpoint: 2, LeaseUntil: time.Now().Add(time.Minute)})
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
	}
	wg.Wait()
	if len(claimed) != 600 {
		t.Fatalf("claimed %d distinct deliveries, want 600", len(claimed))
	}
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("delivery %s claimed %d times", id, n)
		}
	}
}

// TestClaimPastSaturatedBacklog checks that a backlog of older due
// deliveries of one endpoint at its PerEndpoint bound (not excluded) does
// not hide another endpoint's, however many windows the backlog fills.
func TestClaimPastSaturatedBacklog(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	w := newWorld(t, s, 1)
	base := time.Now().Add(-time.Hour)
	w.createMessages(t, base, 4*claimWindowMin) // several windows
	idle := w.addEndpoint(t)
	for i := range 3 {
		if _, err := s.MessageCreate(context.Background(), w.newMessage(base.Add(time.Minute), i), []string{idle.ID}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.DeliveryClaim(context.Background(), herald.ClaimParams{Now: time.Now(), Limit: 10, PerEndpoint: 4,
		LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for i, j := range jobs {
		count[j.Delivery.EndpointID]++
		if i > 0 && j.Delivery.NextAttemptAt.Before(jobs[i-1].Delivery.NextAttemptAt) {
			t.Fatal("claim not ordered by due time")
		}
	}
	if count[w.endpoints[0].ID] != 4 || count[idle.ID] != 3 {
		t.Fatalf("claimed %v, want 4 of the busy endpoint and the idle endpoint's 3", count)
	}
}

// TestEndpointLimitAcrossStores creates endpoints of one application
// through three stores on one schema at once, while messages of it are
// written: the per-application bound holds exactly, and the messages are
// not held up by it.
func TestEndpointLimitAcrossStores(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	stores := []*Store{openTest(t, url, schema), openTest(t, url, schema), openTest(t, url, schema)}
	w := newWorld(t, stores[0], 0)
	ctx := context.Background()
	const tries, limit = 30, 7
	errs := make(chan error, tries)
	for i := range tries {
		go func() {
			now := time.Now().UTC()
			e := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: w.app.ID, URL: "https://example.com/hook",
				Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
			errs <- stores[i%len(stores)].EndpointCreate(ctx, e, limit)
		}()
	}
	for i := range 10 {
		if _, err := stores[i%len(stores)].MessageCreate(ctx, w.newMessage(time.Now(), i), nil); err != nil {
			t.Fatalf("MessageCreate beside endpoint creations: %v", err)
		}
	}
	created := 0
	for range tries {
		switch err := <-errs; {
		case err == nil:
			created++
		case herald.ErrorCode(err) != herald.EInvalid:
			t.Errorf("EndpointCreate: %v", err)
		}
	}
	if created != limit {
		t.Errorf("%d concurrent creations on three stores with a limit of %d created %d", tries, limit, created)
	}
}
