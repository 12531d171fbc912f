package sqlite

import (
	"time"

	"sync"

	"github.com/herald-webhooks/herald"
)

// Hand-off bounds.
const (
	// readyMax is the most claimed-on-create deliveries waiting in memory.
	readyMax = 4096
	// engineActiveFor is how long after its last claim an engine counts as
	// running in this process (it claims at least once per poll interval).
	engineActiveFor = 5 * time.Second
)

// never is a due time after every real one: "nothing pending".
var never = time.Unix(1<<40, 0)

// handoff lets a store whose only delivery engine runs in the same process
// (Config.ClaimOnCreate) skip the claim round trip for fresh deliveries:
// while the queue has nothing due, MessageCreate writes each new delivery
// already claimed (sending, under a lease as long as the engine's last
// claim asked for) and keeps the job, message and endpoint included, in
// memory, where the next DeliveryClaim takes it without reading or writing
// the database. A crash loses nothing: the rows are leased like any other
// claim, and go back to the queue when their lease ends or the engine next
// starts.
//
// It also tracks whether the database may hold due pending deliveries, so
// that a claim reads the database only when it might find something:
// every write that makes a delivery pending notes its due time (markDue);
// a claim that came back short records the earliest remaining due time,
// unless a write noted one meanwhile (the sequence check).
type handoff struct {
	enabled bool

	mu sync.Mutex
	// What the engine's last claim asked for.
	lastClaim   time.Time // wall clock
	leaseLen    time.Duration
	perEndpoint int
	excluded    map[string]bool
	// The jobs claimed on create, oldest first.
	ready []herald.DeliveryJob
	perEp map[string]int
	// The database's due state: no pending delivery is due before nextDue
	// when known; seq counts markDue calls.
	known   bool
	nextDue time.Time
	seq     uint64
}

func newHandoff(enabled bool) *handoff {
	return &handoff{enabled: enabled, excluded: map[string]bool{}, perEp: map[string]int{}}
}

// markDue notes that a pending delivery due at `at` may be in the
// database. Write operations call it from the writer, in commit order.
func (h *handoff) markDue(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	if h.known && at.Before(h.nextDue) {
		h.nextDue = at
	}
}

// dbMayHaveDue reports whether a claim at now should read the database,
// and the sequence number to hand to settle afterwards.
func (h *handoff) dbMayHaveDue(now time.Time) (bool, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.known || !now.Before(h.nextDue), h.seq
}

// unknown forgets the due state, after a write that may have removed
// pending deliveries (the next claim or DeliveryNextDue reads it again).
func (h *handoff) unknown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.known = false
}

// knownNextDue returns the earliest due time of a pending delivery (never:
// none), when the hand-off knows it without reading the database.
func (h *handoff) knownNextDue() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nextDue, h.known
}

// settle records, after a short claim committed, that no pending delivery
// is due before next (never: none is pending), unless a write noted a due
// delivery since the claim read seq.
func (h *handoff) settle(seq uint64, next time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seq == seq {
		h.known, h.nextDue = true, next
	}
}

// noteClaim records what the engine asks of a claim.
func (h *handoff) noteClaim(p herald.ClaimParams) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastClaim = time.Now()
	h.leaseLen = p.LeaseUntil.Sub(p.Now)
	h.perEndpoint = p.PerEndpoint
	clear(h.excluded)
	for _, id := range p.ExcludeEndpoints {
		h.excluded[id] = true
	}
}

// plan is one MessageCreate's permission to claim on create.
type plan struct {
	h        *handoff
	ok       bool
	lease    time.Time
	room     int
	perEp    map[string]int
	bound    int
	excluded map[string]bool
}

// planFor returns whether, and for which endpoints, deliveries of a message
// created at `at` may be claimed on create: an engine is running, nothing
// in the database is due (so the new deliveries jump no queue) and the
// ready list has room.
func (h *handoff) planFor(at time.Time) plan {
	if !h.enabled {
		return plan{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.lastClaim) > engineActiveFor || h.leaseLen <= 0 || !h.known || !at.Before(h.nextDue) ||
		len(h.ready) >= readyMax {
		return plan{}
	}
	return plan{h: h, ok: true, lease: at.Add(h.leaseLen), room: readyMax - len(h.ready),
		perEp: h.perEp, bound: h.perEndpoint, excluded: h.excluded}
}

// take reports whether a delivery to endpointID may be claimed on create.
// The plan reads the handoff's maps under its lock.
func (p *plan) take(endpointID string, taken map[string]int) bool {
	if !p.ok || p.room <= 0 {
		return false
	}
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if p.excluded[endpointID] || (p.bound > 0 && p.perEp[endpointID]+taken[endpointID] >= p.bound) {
		return false
	}
	p.room--
	taken[endpointID]++
	return true
}

// push adds committed claimed-on-create jobs to the ready list.
func (h *handoff) push(jobs []herald.DeliveryJob) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, j := range jobs {
		h.ready = append(h.ready, j)
		h.perEp[j.Endpoint.ID]++
	}
}

// pop takes up to p.Limit ready jobs, oldest first, honouring
// p.ExcludeEndpoints and p.PerEndpoint. Jobs whose lease has less than
// half its length left are returned as stale, for the caller to put back
// in the queue: handing them out could let the lease end mid-attempt.
func (h *handoff) pop(p herald.ClaimParams) (jobs []herald.DeliveryJob, stale []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ready) == 0 {
		return nil, nil
	}
	excluded := make(map[string]bool, len(p.ExcludeEndpoints))
	for _, id := range p.ExcludeEndpoints {
		excluded[id] = true
	}
	counts := map[string]int{}
	minLease := p.Now.Add(h.leaseLen / 2)
	kept := h.ready[:0]
	for _, j := range h.ready {
		ep := j.Endpoint.ID
		switch {
		case j.Delivery.LeaseUntil.Before(minLease):
			stale = append(stale, j.Delivery.ID)
		case len(jobs) < p.Limit && !excluded[ep] && (p.PerEndpoint <= 0 || counts[ep] < p.PerEndpoint):
			counts[ep]++
			jobs = append(jobs, j)
		default:
			kept = append(kept, j)
			continue
		}
		h.perEp[ep]--
		if h.perEp[ep] <= 0 {
			delete(h.perEp, ep)
		}
	}
	clear(h.ready[len(kept):])
	h.ready = kept
	return jobs, stale
}

// drop removes the ready jobs for which gone holds.
func (h *handoff) drop(gone func(j *herald.DeliveryJob) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.ready[:0]
	for i := range h.ready {
		j := &h.ready[i]
		if !gone(j) {
			kept = append(kept, *j)
			continue
		}
		if h.perEp[j.Endpoint.ID]--; h.perEp[j.Endpoint.ID] <= 0 {
			delete(h.perEp, j.Endpoint.ID)
		}
	}
	clear(h.ready[len(kept):])
	h.ready = kept
}

// refresh replaces the endpoint of the ready jobs to ep.ID, after an
// update, so that no attempt uses an endpoint's old URL or secrets.
func (h *handoff) refresh(ep *herald.Endpoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.ready {
		if h.ready[i].Endpoint.ID == ep.ID {
			h.ready[i].Endpoint = *ep
		}
	}
}
