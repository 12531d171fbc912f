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
// when the endpoint has nothing due in the database (see dueIndex),
// MessageCreate writes its new delivery already claimed (sending, under a
// lease as long as the engine's last claim asked for) and keeps the job,
// message and endpoint included, in memory, where the next DeliveryClaim
// takes it without reading or writing the database. A crash loses
// nothing: the rows are leased like any other claim, and go back to the
// queue when their lease ends or the engine next starts.
type handoff struct {
	enabled bool
	due     *dueIndex

	mu sync.Mutex
	// What the engine's last claim asked for.
	lastClaim   time.Time // wall clock
	leaseLen    time.Duration
	perEndpoint int
	excluded    map[string]bool
	// The jobs claimed on create, oldest first.
	ready []herald.DeliveryJob
	perEp map[string]int
}

func newHandoff(enabled bool, due *dueIndex) *handoff {
	return &handoff{enabled: enabled, due: due, excluded: map[string]bool{}, perEp: map[string]int{}}
}

// noteClaim records what the engine asks of a claim.
// excluded is p.ExcludeEndpoints as a set, kept (not copied): the caller
// must not change it afterwards.
func (h *handoff) noteClaim(p herald.ClaimParams, excluded map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastClaim = time.Now()
	h.leaseLen = p.LeaseUntil.Sub(p.Now)
	h.perEndpoint = p.PerEndpoint
	h.excluded = excluded
}

// plan is one MessageCreate's permission to claim on create.
type plan struct {
	h     *handoff
	ok    bool
	at    time.Time
	lease time.Time
	room  int
}

// planFor returns whether deliveries of a message created at `at` may be
// claimed on create: an engine is running and the ready list has room.
// take decides for each endpoint.
func (h *handoff) planFor(at time.Time) plan {
	if !h.enabled {
		return plan{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.lastClaim) > engineActiveFor || h.leaseLen <= 0 || len(h.ready) >= readyMax {
		return plan{}
	}
	return plan{h: h, ok: true, at: at, lease: at.Add(h.leaseLen), room: readyMax - len(h.ready)}
}

// take reports whether a delivery to endpointID may be claimed on create:
// the endpoint has nothing due before it (so it overtakes none of its own
// deliveries), the engine's last claim did not exclude it, and it is under
// its bound of claimed deliveries. taken counts this message's takes.
func (p *plan) take(endpointID string, taken map[string]int) bool {
	if !p.ok || p.room <= 0 || !p.h.due.clearBefore(endpointID, p.at) {
		return false
	}
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if p.h.excluded[endpointID] || (p.h.perEndpoint > 0 && p.h.perEp[endpointID]+taken[endpointID] >= p.h.perEndpoint) {
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

// pop takes up to p.Limit ready jobs, oldest first, honouring excluded
// (p.ExcludeEndpoints as a set) and p.PerEndpoint. Jobs whose lease has less than
// half its length left are returned as stale, for the caller to put back
// in the queue: handing them out could let the lease end mid-attempt.
func (h *handoff) pop(p herald.ClaimParams, excluded map[string]bool) (jobs []herald.DeliveryJob, stale []herald.Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ready) == 0 {
		return nil, nil
	}
	counts := map[string]int{}
	minLease := p.Now.Add(h.leaseLen / 2)
	h.removeIf(func(j *herald.DeliveryJob) bool {
		ep := j.Endpoint.ID
		switch {
		case j.Delivery.LeaseUntil.Before(minLease):
			stale = append(stale, j.Delivery)
		case len(jobs) < p.Limit && !excluded[ep] && (p.PerEndpoint <= 0 || counts[ep] < p.PerEndpoint):
			counts[ep]++
			jobs = append(jobs, *j)
		default:
			return false
		}
		return true
	})
	return jobs, stale
}

// drop removes the ready jobs for which gone holds.
func (h *handoff) drop(gone func(j *herald.DeliveryJob) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeIf(gone)
}

// removeIf takes the ready jobs for which remove holds out of the list,
// oldest first, and releases their endpoints' counts. The caller holds mu.
func (h *handoff) removeIf(remove func(j *herald.DeliveryJob) bool) {
	kept := h.ready[:0]
	for i := range h.ready {
		j := &h.ready[i]
		if !remove(j) {
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
