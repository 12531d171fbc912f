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
	{"ClaimSharedInFlightBound", testClaimSharedInFlightBound},
	{"ClaimSharedConcurrentClaims", testClaimSharedConcurrentClaims},
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

// skipUnlessShared skips tests of the limits only shared stores hold.
func skipUnlessShared(t *testing.T, f *fixture) {
	if !f.s.DeliveryShared() {
		t.Skip("the store is not shared: its one process holds the per-endpoint limits")
	}
}

// sharedClaim claims at now with the cluster bound.
func (f *fixture) sharedClaim(now time.Time, bound int) []herald.DeliveryJob {
	f.t.Helper()
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 100, ClusterPerEndpoint: bound,
		LeaseUntil: now.Add(time.Minute)})
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

func testClaimSharedInFlightBound(t *testing.T, f *fixture) {
	skipUnlessShared(t, f)
	a := f.app()
	e1 := f.endpoint(a.ID)
	e2 := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"only.e2"} })
	for range 6 {
		f.message(a.ID)
	}
	f.message(a.ID, func(m *herald.Message) { m.EventType = "only.e2" })
	now := at(1_000_000)
	first := f.sharedClaim(now, 3)
	if n := countByEndpoint(first); n[e1.ID] != 3 || n[e2.ID] != 1 {
		t.Fatalf("first claim took %v, want 3 of e1 (its bound) and e2's 1", n)
	}
	if again := f.sharedClaim(now, 3); len(again) != 0 {
		t.Fatalf("claimed %d more while e1 has 3 sending, its bound", len(again))
	}
	// One finishes: room for one more.
	var done herald.DeliveryJob
	for _, j := range first {
		if j.Delivery.EndpointID == e1.ID {
			done = j
			break
		}
	}
	must(t, f.s.DeliveryComplete(f.ctx, []herald.DeliveryResult{result(done, herald.StatusSuccess, 200, now)}), "DeliveryComplete")
	next := f.sharedClaim(now, 3)
	if n := countByEndpoint(next); len(next) != 1 || n[e1.ID] != 1 {
		t.Fatalf("after one finished, claimed %v, want 1 of e1", n)
	}
	// Without the cluster bound the rest are claimable at once.
	// e1 has all 7 messages: 4 were claimed.
	if rest := f.claimAll(now); len(rest) != 3 {
		t.Fatalf("claim without the cluster bound took %d, want e1's other 3", len(rest))
	}
}

// testClaimSharedConcurrentClaims checks that claims running at once
// (nodes) together stay within an endpoint's bound.
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
		total int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 10, ClusterPerEndpoint: 4,
					LeaseUntil: now.Add(time.Minute)})
				if err != nil {
					t.Errorf("DeliveryClaim: %v", err)
					return
				}
				mu.Lock()
				total += len(jobs)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total != 4 {
		t.Fatalf("concurrent claims took %d deliveries of one endpoint, want exactly its bound 4", total)
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
	first := f.sharedClaim(now, 32)
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
	if again := f.sharedClaim(now, 32); len(again) != 0 {
		t.Fatalf("claimed %d throttled deliveries whose turn is a second away or more", len(again))
	}
	// 600 ms later the turns at +1 s and +1.5 s are within the horizon:
	// pacing follows on from the earlier claim.
	later := f.sharedClaim(now.Add(600*time.Millisecond), 32)
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
