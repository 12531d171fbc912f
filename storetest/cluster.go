package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var clusterTests = []test{
	{"LeaderElection", testLeaderElection},
	{"LeaderResign", testLeaderResign},
	{"ClaimSharedOwnership", testClaimSharedOwnership},
	{"ClaimSharedConcurrentClaims", testClaimSharedConcurrentClaims},
	{"ClaimSharedSplitsNewEndpoints", testClaimSharedSplitsNewEndpoints},
	{"ClaimSharedThrottle", testClaimSharedThrottle},
}

// attemptLead calls LeaderAttempt for a term of 10 s from now.
func (f *fixture) attemptLead(name, node string, now time.Time) bool {
	f.t.Helper()
	leads, err := f.s.LeaderAttempt(f.ctx, name, node, now, now.Add(10*time.Second))
	must(f.t, err, "LeaderAttempt")
	return leads
}

func testLeaderElection(t *testing.T, f *fixture) {
	steps := []struct {
		node string
		at   int // ms
		want bool
		why  string
	}{
		{"a", 0, true, "nobody leads"},
		{"b", 1_000, false, "a's term runs until 10 s"},
		{"a", 5_000, true, "a renews until 15 s"},
		{"b", 12_000, false, "a's renewed term runs until 15 s"},
		{"b", 15_001, true, "a's term ended"},
		{"a", 16_000, false, "b leads until 25 s"},
		{"b", 20_000, true, "b renews"},
	}
	for _, s := range steps {
		if got := f.attemptLead("maintenance", s.node, at(s.at)); got != s.want {
			t.Fatalf("node %s at %d ms: leads %v, want %v (%s)", s.node, s.at, got, s.want, s.why)
		}
	}
	// Another name is another election.
	if !f.attemptLead("other", "a", at(21_000)) {
		t.Fatal("node a did not win an election nobody else stood in")
	}
}

func testLeaderResign(t *testing.T, f *fixture) {
	if !f.attemptLead("maintenance", "a", at(0)) {
		t.Fatal("node a did not win an empty election")
	}
	// Resigning a term one does not hold changes nothing.
	must(t, f.s.LeaderResign(f.ctx, "maintenance", "b"), "LeaderResign by b")
	if f.attemptLead("maintenance", "b", at(1_000)) {
		t.Fatal("node b took over after resigning a term it did not hold")
	}
	must(t, f.s.LeaderResign(f.ctx, "maintenance", "a"), "LeaderResign by a")
	if !f.attemptLead("maintenance", "b", at(2_000)) {
		t.Fatal("node b did not take over at once after a resigned")
	}
}

// skipUnlessShared skips tests of what only shared stores do.
func skipUnlessShared(t *testing.T, f *fixture) {
	if !f.s.DeliveryShared() {
		t.Skip("the store is not shared: its one process holds the per-endpoint limits")
	}
}

// claimAs claims at now as node, releasing release.
func (f *fixture) claimAs(node string, now time.Time, release ...string) []herald.DeliveryJob {
	f.t.Helper()
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 100, Node: node,
		ReleaseEndpoints: release, LeaseUntil: now.Add(time.Minute)})
	must(f.t, err, "DeliveryClaim")
	return jobs
}

func countByEndpoint(jobs []herald.DeliveryJob) map[string]int {
	n := map[string]int{}
	for _, j := range jobs {
		n[j.Delivery.EndpointID]++
	}
	return n
}

// testClaimSharedOwnership checks that an endpoint's deliveries go to one
// node at a time: the one that claimed them first, until it releases the
// endpoint or its last lease ends.
func testClaimSharedOwnership(t *testing.T, f *fixture) {
	skipUnlessShared(t, f)
	a := f.app()
	e1 := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"for.e1"} })
	e2 := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"for.e2"} })
	for range 2 {
		f.message(a.ID, func(m *herald.Message) { m.EventType = "for.e1" })
	}
	now := at(1_000_000)
	if got := countByEndpoint(f.claimAs("a", now)); got[e1.ID] != 2 {
		t.Fatalf("node a claimed %v, want e1's 2", got)
	}
	// More work for both endpoints: e1 stays a's, e2 is free.
	for range 2 {
		f.message(a.ID, func(m *herald.Message) { m.EventType = "for.e1" })
		f.message(a.ID, func(m *herald.Message) { m.EventType = "for.e2" })
	}
	if got := countByEndpoint(f.claimAs("b", now)); got[e1.ID] != 0 || got[e2.ID] != 2 {
		t.Fatalf("node b claimed %v, want e2's 2 and none of e1, which a owns", got)
	}
	if got := countByEndpoint(f.claimAs("a", now)); got[e1.ID] != 2 || got[e2.ID] != 0 {
		t.Fatalf("node a claimed %v, want e1's 2 more and none of e2, which b owns", got)
	}
	// a releases e1: b may take it at once.
	f.message(a.ID, func(m *herald.Message) { m.EventType = "for.e1" })
	if got := f.claimAs("a", now.Add(-time.Hour), e1.ID); len(got) != 0 {
		t.Fatalf("a claimed %d with nothing due", len(got))
	}
	// (b, which found e1 owned, may leave it alone for ThrottleHorizon.)
	if got := countByEndpoint(f.claimAs("b", now.Add(herald.ThrottleHorizon))); got[e1.ID] != 1 {
		t.Fatalf("after a released e1, b claimed %v, want e1's 1", got)
	}
	// b's lease on e2 ends (it died): a may take e2.
	f.message(a.ID, func(m *herald.Message) { m.EventType = "for.e2" })
	if got := countByEndpoint(f.claimAs("a", now.Add(30*time.Second))); got[e2.ID] != 0 {
		t.Fatalf("a claimed %v while b's lease on e2 runs", got)
	}
	if got := countByEndpoint(f.claimAs("a", now.Add(2*time.Minute))); got[e2.ID] != 1 {
		t.Fatalf("after b's lease ended, a claimed %v, want e2's 1", got)
	}
}

// testClaimSharedConcurrentClaims checks that claims running at once
// (nodes) never share an endpoint.
func testClaimSharedConcurrentClaims(t *testing.T, f *fixture) {
	skipUnlessShared(t, f)
	a := f.app()
	f.endpoint(a.ID)
	var msgs []*herald.Message
	for range 40 {
		msgs = append(msgs, f.newMessage(a.ID))
	}
	f.createAll(msgs)
	now := at(1_000_000)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		nodes = map[string]int{}
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := string(rune('a' + i))
			for range 5 {
				jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 3, Node: node,
					LeaseUntil: now.Add(time.Minute)})
				if err != nil {
					t.Errorf("DeliveryClaim: %v", err)
					return
				}
				if len(jobs) > 0 {
					mu.Lock()
					nodes[node] += len(jobs)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(nodes) != 1 {
		t.Fatalf("deliveries of one endpoint went to several nodes at once: %v", nodes)
	}
}

func testClaimSharedThrottle(t *testing.T, f *fixture) {
	skipUnlessShared(t, f)
	a := f.app()
	rate := 2 // one attempt every 500 ms
	slow := f.endpoint(a.ID, func(e *herald.Endpoint) { e.ThrottleRate = &rate })
	free := f.endpoint(a.ID)
	for range 10 {
		f.message(a.ID)
	}
	now := at(1_000_000)
	first := f.claimAs("a", now)
	byEP := map[string][]herald.DeliveryJob{}
	for _, j := range first {
		byEP[j.Delivery.EndpointID] = append(byEP[j.Delivery.EndpointID], j)
	}
	if len(byEP[free.ID]) != 10 {
		t.Fatalf("claimed %d of the unthrottled endpoint, want all 10", len(byEP[free.ID]))
	}
	for _, j := range byEP[free.ID] {
		if !j.NotBefore.IsZero() {
			t.Fatalf("unthrottled delivery has NotBefore %v", j.NotBefore)
		}
	}
	// Rate 2 within the one-second horizon: turns at now and now+500ms.
	checkTurns(t, "first claim", byEP[slow.ID], now, now.Add(500*time.Millisecond))
	if again := f.claimAs("a", now); len(again) != 0 {
		t.Fatalf("claimed %d throttled deliveries whose turn is a second away or more", len(again))
	}
	// 600 ms later the turns at +1 s and +1.5 s are within the horizon:
	// pacing follows on from the earlier claim.
	later := f.claimAs("a", now.Add(600*time.Millisecond))
	checkTurns(t, "second claim", later, now.Add(time.Second), now.Add(1500*time.Millisecond))
}

// checkTurns fails t unless jobs have exactly the NotBefore times want,
// in queue order.
func checkTurns(t *testing.T, what string, jobs []herald.DeliveryJob, want ...time.Time) {
	t.Helper()
	if len(jobs) != len(want) {
		t.Fatalf("%s: claimed %d throttled deliveries, want %d", what, len(jobs), len(want))
	}
	for i, j := range jobs {
		if !j.NotBefore.Equal(want[i]) {
			t.Fatalf("%s: delivery %d has NotBefore %v, want %v", what, i, j.NotBefore, want[i])
		}
	}
}

// testClaimSharedSplitsNewEndpoints checks that a node takes only its
// share of the endpoints nobody owns, counting the nodes that looked for
// work lately, so that nodes woken by the same messages split them.
func testClaimSharedSplitsNewEndpoints(t *testing.T, f *fixture) {
	skipUnlessShared(t, f)
	a := f.app()
	for range 4 {
		f.endpoint(a.ID)
	}
	now := at(1_000_000)
	f.claimAs("b", now.Add(-time.Hour)) // b looks for work (nothing due yet)
	f.claimAs("b", now.Add(-time.Second))
	f.message(a.ID)
	f.message(a.ID)
	if got := countByEndpoint(f.claimAs("a", now)); len(got) != 2 {
		t.Fatalf("with b alive, a took %d of the 4 endpoints nobody owned, want its share 2: %v", len(got), got)
	}
	// b then takes its share of the 2 left, and the last at its next claim.
	if got := countByEndpoint(f.claimAs("b", now)); len(got) != 1 {
		t.Fatalf("b then took %d endpoints, want 1 of the 2 left: %v", len(got), got)
	}
	if got := countByEndpoint(f.claimAs("b", now)); len(got) != 1 {
		t.Fatalf("b's next claim took %d endpoints, want the last: %v", len(got), got)
	}
	// Alone (b not seen for long), a takes every endpoint nobody owns.
	later := now.Add(time.Hour)
	c := f.app()
	for range 3 {
		f.endpoint(c.ID)
	}
	f.message(c.ID, func(m *herald.Message) { m.CreatedAt = later })
	if got := countByEndpoint(f.claimAs("a", later.Add(time.Second))); len(got) != 3 {
		t.Fatalf("alone, a took %d of 3 new endpoints, want all: %v", len(got), got)
	}
}
