package main

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// killLoad is how many messages the kill tests post: enough that
// deliveries are still flowing well after the last one is accepted.
const killLoad = 900

// TestNodeKilledUnderLoadLosesNothing runs three herald processes on one
// PostgreSQL schema, posts a load through the victim's API and, while the
// slow receiver has attempts in flight, kills a node that does not lead
// maintenance with SIGKILL. Every accepted message must be delivered,
// the killed node's attempts in flight must be retried by the survivors
// once their lease ends, nothing may stay pending or sending, and a
// message may be delivered twice only if it was one of those attempts.
func TestNodeKilledUnderLoadLosesNothing(t *testing.T) {
	c, out := killUnderLoad(t, false)
	checkNothingLost(t, c, out)
	checkDuplicates(t, c, out)
	checkSurvivorsTookOver(t, c, out)
	if n := rescuedCount(c.nodes); n < len(out.held(c)) {
		t.Errorf("the leader logged %d rescued deliveries, fewer than the %d the killed node held", n, len(out.held(c)))
	}
}

// TestLeaderKilledHandsMaintenanceOver kills, with SIGKILL and under
// load, the node that leads maintenance. Another node must be elected
// within about the leader term and do the leader's work: the deliveries
// the killed leader held (leased) are rescued once their lease ends and
// delivered by the survivors.
func TestLeaderKilledHandsMaintenanceOver(t *testing.T) {
	c, out := killUnderLoad(t, true)
	newLeader := checkLeaderHandover(t, c, out)
	checkNothingLost(t, c, out)
	checkSurvivorsTookOver(t, c, out)
	checkDuplicates(t, c, out)
	if n, held := rescuedCount([]*killNode{newLeader}), len(out.held(c)); n < held {
		t.Errorf("the new leader logged %d rescued deliveries, fewer than the %d the killed leader held:\n%s", n, held, newLeader.logs.String())
	} else {
		t.Logf("the new leader rescued %d deliveries (the killed leader held %d with a request at the receiver)", n, held)
	}
}

// killOutcome is what the kill of a node under load leaves to check.
type killOutcome struct {
	accepted   []string
	victim     *killNode
	victimName string               // its node name when it led maintenance
	at         time.Time            // the kill instant
	ports      map[int]bool         // its connections to the receiver at the kill
	sending    map[string]time.Time // deliveries sending once its sessions ended: message ID to lease end
}

// killUnderLoad starts three nodes, posts killLoad messages and, once
// the receiver has many attempts in flight, kills the maintenance leader
// (leader true) or another node.
func killUnderLoad(t *testing.T, leader bool) (*killCluster, *killOutcome) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs and kills real processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("tells the killed node's connections apart through /proc")
	}
	c := startKillCluster(t, 3)
	lead := c.waitLeader(t)
	out := &killOutcome{}
	for _, n := range c.nodes {
		if (n == lead) == leader {
			out.victim = n
			break
		}
	}
	// Each endpoint is delivered to by one node at a time, its owner, and
	// the node that accepts a message is the first to claim it: the load
	// goes through the victim's API, so that it owns endpoints and has
	// attempts in flight to lose (the other nodes take their share too).
	start := time.Now()
	out.accepted = c.postLoad(t, killLoad, out.victim)
	posted := time.Since(start)
	waitFor(t, 15*time.Second, "the victim to own an endpoint with attempts in flight", func() bool {
		_, open := c.rc.counts()
		if open < 12 {
			return false
		}
		for _, owner := range c.owners(t) {
			if c.nodeNamed(owner) == out.victim {
				return true
			}
		}
		return false
	})
	answered, open := c.rc.counts()
	t.Logf("%d messages posted through the victim in %.1fs; at the kill %d were answered and %d requests open at the receiver",
		len(out.accepted), posted.Seconds(), answered, open)
	if leader {
		out.victimName = c.leader(t)
		if c.nodeNamed(out.victimName) != out.victim {
			t.Fatalf("the leader changed during the load: %s", out.victimName)
		}
	}
	out.ports, out.at = c.kill(t, out.victim)
	out.sending = c.sending(t) // its leases last killLease: none rescued yet
	return c, out
}

// victimRequests are the requests the killed node sent: on its
// connections, read by the receiver up to half a second after the kill
// (what it wrote before the kill; later, a survivor could in principle
// reuse a port).
func (o *killOutcome) victimRequests(c *killCluster) []slowRequest {
	var out []slowRequest
	for _, r := range c.rc.requests() {
		if o.ports[r.port] && r.start.Before(o.at.Add(500*time.Millisecond)) {
			out = append(out, r)
		}
	}
	return out
}

// held returns the killed node's attempts in flight at the kill: the
// messages it had sent to the receiver whose delivery it had not yet
// recorded (still sending after the kill), with their lease end. Only
// these can be delivered twice.
func (o *killOutcome) held(c *killCluster) map[string]time.Time {
	held := map[string]time.Time{}
	for _, r := range o.victimRequests(c) {
		if until, ok := o.sending[r.msgID]; ok {
			held[r.msgID] = until
		}
	}
	return held
}

// checkNothingLost waits until every accepted message is answered 2xx by
// the receiver and no delivery is pending or sending.
func checkNothingLost(t *testing.T, c *killCluster, out *killOutcome) {
	t.Helper()
	waitFor(t, 40*time.Second, strconv.Itoa(len(out.accepted))+" accepted messages delivered", func() bool {
		got := c.rc.answeredByMsg()
		for _, id := range out.accepted {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	// Deliveries the killed node had sent but not recorded stay sending
	// until their lease ends (up to killLease after the kill), then wait
	// for the next rescue and their resend: give them all of that, and
	// slack for a busy machine.
	waitFor(t, killLease+2*killRescueEvery+20*time.Second, "no delivery pending or sending", func() bool { return c.unfinished(t) == 0 })
}

// checkDuplicates counts the messages answered 2xx more than once and
// requires each to be one of the killed node's attempts in flight.
func checkDuplicates(t *testing.T, c *killCluster, out *killOutcome) {
	t.Helper()
	held := out.held(c)
	unanswered := 0 // of held: requests the receiver had not answered at the kill
	for _, r := range out.victimRequests(c) {
		if _, ok := held[r.msgID]; ok && (r.answered.IsZero() || r.answered.After(out.at)) {
			unanswered++
		}
	}
	dups := 0
	for id, n := range c.rc.answeredByMsg() {
		if n < 2 {
			continue
		}
		dups += n - 1
		if _, ok := held[id]; !ok {
			t.Errorf("message %s delivered %d times, but it was not in flight on the killed node", id, n)
		}
	}
	if dups > len(held) {
		t.Errorf("%d duplicate deliveries, more than the %d attempts in flight at the kill", dups, len(held))
	}
	if len(held) == 0 {
		t.Errorf("the killed node had no attempt in flight at the kill: the test shows nothing")
	}
	t.Logf("%d messages accepted, all delivered; killed node: %d requests at the receiver, %d attempts in flight at the kill (%d unanswered, %d answered but not yet recorded); %d duplicate deliveries",
		len(out.accepted), len(out.victimRequests(c)), len(held), unanswered, len(held)-unanswered, dups)
}

// checkSurvivorsTookOver requires deliveries after the kill from the
// survivors, among them every attempt the killed node had in flight,
// each after its lease ended (so rescued by the maintenance leader).
func checkSurvivorsTookOver(t *testing.T, c *killCluster, out *killOutcome) {
	t.Helper()
	held := out.held(c)
	after := 0
	var first, last time.Duration
	for _, r := range c.rc.requests() {
		if out.ports[r.port] || !r.start.After(out.at) || r.answered.IsZero() {
			continue
		}
		after++
		until, ok := held[r.msgID]
		if !ok {
			continue
		}
		if r.start.Before(until) {
			t.Errorf("message %s sent again %v before its lease ended", r.msgID, until.Sub(r.start))
		}
		d := r.start.Sub(out.at)
		if first == 0 || d < first {
			first = d
		}
		last = max(last, d)
		delete(held, r.msgID)
	}
	if after == 0 {
		t.Errorf("no delivery after the kill: the survivors did not take over")
	}
	for id := range held {
		var seen []string
		for _, r := range c.rc.requests() {
			if r.msgID == id {
				seen = append(seen, fmt.Sprintf("port %d (victim's: %v) at kill%+.2fs answered %v", r.port, out.ports[r.port],
					r.start.Sub(out.at).Seconds(), !r.answered.IsZero()))
			}
		}
		t.Errorf("message %s, in flight on the killed node, was not delivered by a survivor; its requests: %v", id, seen)
	}
	t.Logf("survivors delivered %d requests after the kill; the killed node's attempts came back %.1fs to %.1fs after it (lease %v, rescue every %v)",
		after, first.Seconds(), last.Seconds(), killLease, killRescueEvery)
}

// checkLeaderHandover waits for another node to lead maintenance, within
// the term plus two seconds of the kill, and returns it. It must log its
// election with its node name.
func checkLeaderHandover(t *testing.T, c *killCluster, out *killOutcome) *killNode {
	t.Helper()
	bound := killLeaderTerm + 2*time.Second
	var name string
	waitFor(t, bound-time.Since(out.at), "a new maintenance leader", func() bool {
		name = c.leader(t)
		return name != "" && name != out.victimName
	})
	took := time.Since(out.at)
	leader := c.nodeNamed(name)
	if leader == nil || leader == out.victim {
		t.Fatalf("maintenance leader %q is not one of the surviving nodes", name)
	}
	line := `msg="elected maintenance leader" node=` + name
	waitFor(t, 5*time.Second, "the new leader's log: "+line, func() bool { return strings.Contains(leader.logs.String(), line) })
	t.Logf("leader %s killed; %s leads maintenance %.2fs later (term %v)", out.victimName, name, took.Seconds(), killLeaderTerm)
	return leader
}

// rescueLine matches maintenance's log of a lease rescue.
var rescueLine = regexp.MustCompile(`msg="rescue expired leases" node=\S+ count=(\d+)`)

// rescuedCount sums the deliveries the nodes' logs say they rescued.
func rescuedCount(nodes []*killNode) int {
	total := 0
	for _, n := range nodes {
		for _, m := range rescueLine.FindAllStringSubmatch(n.logs.String(), -1) {
			k, _ := strconv.Atoi(m[1])
			total += k
		}
	}
	return total
}
