package delivery

import (
	"context"
	"sync"
	"time"
)

// limits tracks, per endpoint, the deliveries claimed and not finished,
// the attempts in flight, and the throttle bucket. State for an endpoint is
// dropped as soon as it has nothing in flight and a full bucket, so memory
// follows the number of busy endpoints, not of all endpoints.
type limits struct {
	perEndpoint int
	maxClaimed  int // most claimed for one endpoint: a share of all slots

	mu  sync.Mutex
	eps map[string]*endpointState
}

type endpointState struct {
	claimed int           // claimed, not finished
	slow    bool          // its last attempt took long or got no answer
	slots   chan struct{} // attempts in flight, capacity perEndpoint
	bucket  bucket        // throttleRate, when set
}

// newLimits bounds attempts in flight per endpoint to perEndpoint, and the
// deliveries claimed for one endpoint to a quarter of concurrency, so that
// endpoints not yet known to be slow cannot take every slot.
func newLimits(perEndpoint, concurrency int) *limits {
	return &limits{perEndpoint: perEndpoint, maxClaimed: max(1, concurrency/4), eps: map[string]*endpointState{}}
}

func (l *limits) state(id string) *endpointState {
	s := l.eps[id]
	if s == nil {
		s = &endpointState{slots: make(chan struct{}, l.perEndpoint)}
		l.eps[id] = s
	}
	return s
}

// claimed records that a delivery for endpoint id was claimed.
func (l *limits) claimed(id string) *endpointState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(id)
	s.claimed++
	return s
}

// finished records that a claimed delivery for id is done, and drops idle
// state.
// It reports whether the endpoint has room for a claim worth making (half
// its bound or more is free), and whether it has no claimed delivery left.
func (l *limits) finished(id string, now time.Time) (room, idle bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.eps[id]
	if s == nil {
		return true, true
	}
	s.claimed--
	room, idle = s.claimed <= l.bound(s)/2, s.claimed <= 0
	if s.claimed <= 0 && !s.bucket.busy(now) {
		delete(l.eps, id)
	}
	return room, idle
}

// bound is how many deliveries may be claimed for the endpoint at once.
func (l *limits) bound(s *endpointState) int {
	b := l.perEndpoint * claimAhead
	if s.slow {
		b = l.perEndpoint
	}
	b = min(b, l.maxClaimed)
	if s.bucket.rate > 0 {
		b = min(b, max(1, int(s.bucket.rate)))
	}
	return b
}

// claimAhead is how many deliveries, per attempt slot, may be claimed for an
// endpoint that answers quickly: claiming ahead keeps its slots busy with
// few, large claims. A slow endpoint gets no more than its slots.
const claimAhead = 4

// excluded lists the endpoints not to claim for now: those with as many
// deliveries claimed as they may have (claimAhead times their slots, only
// their slots when slow, at most their throttle rate), and those whose
// throttle bucket is empty.
func (l *limits) excluded(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id, s := range l.eps {
		if s.claimed >= l.bound(s) || s.bucket.busy(now) {
			out = append(out, id)
		}
	}
	return out
}

// observe records how an attempt to the endpoint went: slow (long, or no
// answer) endpoints are not claimed ahead for.
func (l *limits) observe(s *endpointState, slow bool) {
	l.mu.Lock()
	s.slow = slow
	l.mu.Unlock()
}

// reserve takes a throttle token for endpoint state s at rate per second
// and returns when the attempt may start.
func (l *limits) reserve(s *endpointState, rate float64, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return s.bucket.reserve(rate, now)
}

// acquire waits for an in-flight slot of s; false if ctx ended first.
func (s *endpointState) acquire(ctx context.Context) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *endpointState) release() { <-s.slots }

// bucket paces attempts evenly at its rate: one every 1/rate seconds,
// never more than rate in any one-second window. Reservations are times at
// which attempts may start, so callers wait their turn without polling.
type bucket struct {
	rate float64   // attempts per second; 0: not throttled
	next time.Time // when the next attempt may start
}

// reserve returns when an attempt asked for at now may start.
func (b *bucket) reserve(rate float64, now time.Time) time.Time {
	if rate <= 0 {
		b.rate = 0
		return now
	}
	b.rate = rate
	at := b.next
	if at.Before(now) {
		at = now
	}
	b.next = at.Add(time.Duration(float64(time.Second) / rate))
	return at
}

// busy reports whether an attempt asked for at now would have to wait.
func (b *bucket) busy(now time.Time) bool {
	return b.rate > 0 && b.next.After(now)
}
