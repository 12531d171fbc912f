package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/herald-webhooks/herald"
)

// storeTimeout bounds each claim and queue read, so that a database that
// hangs (rather than refusing connections) cannot stall the producer: it
// retries after PollInterval, as after any failed claim.
const storeTimeout = 30 * time.Second

// produce claims due deliveries while there are free slots and hands each
// to its own executor goroutine. When a claim comes back short it sleeps
// until the store reports new work, a delivery finishes, or the next
// delivery falls due (at most PollInterval).
func (e *Engine) produce(ctx context.Context) {
	for ctx.Err() == nil {
		free := e.cfg.Concurrency - int(e.inFlight.Load())
		if free <= 0 {
			e.waitForWork(ctx, e.cfg.PollInterval)
			continue
		}
		limit := min(free, e.cfg.ClaimBatch)
		n, err := e.claimAndDispatch(ctx, limit)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("claim deliveries", "err", err)
			e.waitForWork(ctx, e.cfg.PollInterval)
			continue
		}
		if n == limit {
			continue // more may be due right now
		}
		e.waitForWork(ctx, e.untilNextDue(ctx))
	}
}

// untilNextDue is how long to sleep after a short claim: until the next
// delivery falls due, or PollInterval when deliveries are due already but
// were not claimable (their endpoints are busy or throttled: a finishing
// delivery wakes the producer earlier).
func (e *Engine) untilNextDue(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	next, ok, err := e.store.DeliveryNextDue(ctx)
	if err != nil || !ok {
		return e.cfg.PollInterval
	}
	d := next.Sub(e.cfg.Now())
	if d <= 0 {
		return e.cfg.PollInterval
	}
	return min(d, e.cfg.PollInterval)
}

// claimAndDispatch claims up to limit deliveries and starts one executor
// per delivery.
func (e *Engine) claimAndDispatch(ctx context.Context, limit int) (int, error) {
	now := e.cfg.Now()
	p := herald.ClaimParams{
		Now:              now,
		Limit:            limit,
		PerEndpoint:      min(e.cfg.PerEndpoint*claimAhead, e.limits.maxClaimed),
		ExcludeEndpoints: e.limits.excluded(now),
		LeaseUntil:       now.Add(e.leaseFor()),
	}
	if e.shared {
		// Other processes claim too: the store gives each endpoint to one
		// of them at a time, and this one gives back those it is done with.
		p.Node = e.cfg.Node
		p.ReleaseEndpoints = e.idle.take()
	}
	claimCtx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	jobs, err := e.store.DeliveryClaim(claimCtx, p)
	if err != nil {
		e.idle.add(p.ReleaseEndpoints...) // still to release
		return 0, err
	}
	for i := range jobs {
		job := jobs[i]
		st := e.limits.claimed(job.Endpoint.ID)
		e.inFlight.Add(1)
		e.sends.Add(1)
		go func() {
			defer e.finish(job.Endpoint.ID)
			e.execute(&job, st)
		}()
	}
	return len(jobs), nil
}

// finish releases a claimed delivery's slots and wakes the producer when
// a claim is worth making: the endpoint has half its bound free, or the
// free global slots just reached half a claim batch. (Otherwise every
// finish would cost a claim of one delivery.)
func (e *Engine) finish(endpointID string) {
	room, idle := e.limits.finished(endpointID, e.cfg.Now())
	if idle && e.shared {
		e.idle.add(endpointID)
	}
	free := e.cfg.Concurrency - int(e.inFlight.Add(-1))
	e.sends.Done()
	if room || free == max(1, e.cfg.ClaimBatch/2) {
		e.wakeProducer()
	}
}

// wakeProducer makes the producer try a claim now, without blocking.
func (e *Engine) wakeProducer() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// waitForWork blocks until something may have become claimable or d
// passes.
func (e *Engine) waitForWork(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-e.store.DeliveryNotify():
	case <-e.wake:
	case <-timer.C:
	}
}

// idleSet collects the endpoints this process has no claimed delivery of
// any more, to release at the next claim on a shared store.
type idleSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

// add puts ids in the set.
func (s *idleSet) add(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	for _, id := range ids {
		s.ids[id] = true
	}
}

// take empties the set and returns what it held.
func (s *idleSet) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	clear(s.ids)
	return out
}
