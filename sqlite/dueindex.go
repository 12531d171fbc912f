package sqlite

import (
	"sync"
	"time"
)

// dueIndexMax is the most endpoints the due index tracks; past it the
// index gives up (unknown) and claims scan the queue table's due index.
const dueIndexMax = 1 << 16

// dueIndexMaxAge is how long the index is trusted after it was read from
// the table: then the next claim reads it again. The index follows every
// write, so this only bounds the harm a missed case could do (a delivery
// left unclaimed) to this long.
const dueIndexMaxAge = 30 * time.Second

// dueIndex is the store's in-memory map of the endpoints that may have
// pending deliveries in the database, each with a time no later than its
// earliest due one. It lets a claim read just the endpoints that have due
// work and are not excluded, instead of reading past the backlog of
// endpoints that are busy or hanging; and it tells MessageCreate when an
// endpoint has nothing due, so that its fresh deliveries can be claimed
// on create without overtaking older ones (see handoff).
//
// Only write operations change it, from the writer goroutine, so its
// changes follow the order of the database's: each write that makes a
// delivery pending marks its endpoint; a claim sets an endpoint's time
// from the database after taking its due rows. A rolled-back transaction
// makes it unknown, as does a change it cannot follow (rescue, deleting an
// application); the next claim rebuilds it from the database.
type dueIndex struct {
	mu     sync.Mutex
	known  bool
	at     map[string]time.Time
	readAt time.Time // wall clock of the last reset
	maxAge time.Duration
}

func newDueIndex() *dueIndex { return &dueIndex{at: map[string]time.Time{}, maxAge: dueIndexMaxAge} }

// trusted reports whether the index is known and young enough to use;
// the caller holds mu.
func (d *dueIndex) trusted() bool { return d.known && time.Since(d.readAt) < d.maxAge }

// mark notes that the endpoint may have a pending delivery due at `at`.
func (d *dueIndex) mark(endpointID string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.known {
		return
	}
	if t, ok := d.at[endpointID]; ok && !at.Before(t) {
		return
	}
	if len(d.at) >= dueIndexMax {
		d.known = false
		clear(d.at)
		return
	}
	d.at[endpointID] = at
}

// unknown forgets everything: the next claim rebuilds the index.
func (d *dueIndex) unknown() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.known = false
	clear(d.at)
}

// set records the endpoint's earliest due time as read from the
// database; pending false means it has no pending delivery.
func (d *dueIndex) set(endpointID string, at time.Time, pending bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.known {
		return
	}
	if pending {
		d.at[endpointID] = at
	} else {
		delete(d.at, endpointID)
	}
}

// reset replaces the index with what was read from the database.
func (d *dueIndex) reset(at map[string]time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.known, d.at, d.readAt = true, at, time.Now()
}

// candidates returns the endpoints, not excluded, that may have deliveries
// due at now; known is false when the index is unknown.
func (d *dueIndex) candidates(now time.Time, excluded map[string]bool) (eps []string, known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.trusted() {
		return nil, false
	}
	for ep, at := range d.at {
		if !at.After(now) && !excluded[ep] {
			eps = append(eps, ep)
		}
	}
	return eps, true
}

// mayHaveDue reports whether an endpoint that is not excluded may have
// deliveries due at now: true when the index is unknown.
func (d *dueIndex) mayHaveDue(now time.Time, excluded map[string]bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.trusted() {
		return true
	}
	for ep, at := range d.at {
		if !at.After(now) && !excluded[ep] {
			return true
		}
	}
	return false
}

// excludedDue reports whether an excluded endpoint may have deliveries
// due at now: rows a scan of the whole queue in due order would read past.
func (d *dueIndex) excludedDue(now time.Time, excluded map[string]bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ep := range excluded {
		if at, ok := d.at[ep]; ok && !at.After(now) {
			return true
		}
	}
	return !d.trusted() && len(excluded) > 0
}

// clearBefore reports whether the index knows that the endpoint has no
// pending delivery due before `at`.
func (d *dueIndex) clearBefore(endpointID string, at time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.trusted() {
		return false
	}
	t, ok := d.at[endpointID]
	return !ok || !t.Before(at)
}

// next returns the earliest due time of all (never when nothing is
// pending), when the index is known. Its times are lower bounds, exact
// after the claims that set them.
func (d *dueIndex) next() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.trusted() {
		return time.Time{}, false
	}
	next := never
	for _, at := range d.at {
		if at.Before(next) {
			next = at
		}
	}
	return next, true
}
