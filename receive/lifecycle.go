package receive

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Start starts the receiver's background work and returns at once: in the
// asynchronous mode the workers that run queued events (including events
// left queued or in flight when a process using the same SQLStore
// stopped), and, when the Store is a Cleaner, the periodic cleanup of
// expired records. A synchronous receiver over a MemoryStore needs no
// Start. ctx's values are kept; its cancellation is ignored (use Stop).
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return errors.New("receive: already started")
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop, done := make(chan struct{}), make(chan struct{})
	r.stop, r.cancel, r.done = stop, cancel, done
	var wg sync.WaitGroup
	if r.cfg.Async != nil {
		wg.Go(func() { r.dispatch(ctx, stop) })
	}
	if c, ok := r.cfg.Store.(Cleaner); ok {
		wg.Go(func() { r.cleanLoop(ctx, c, stop) })
	}
	go func() { wg.Wait(); close(done) }()
	return nil
}

// Stop stops claiming queued events and waits for the running handlers to
// return. When ctx ends first it cancels the handlers' contexts and still
// waits for them (their events are retried after the next Start). Safe to
// call twice, and without Start.
func (r *Receiver) Stop(ctx context.Context) error {
	r.mu.Lock()
	stop, cancel, done := r.stop, r.cancel, r.done
	r.stop, r.cancel, r.done = nil, nil, nil
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	close(stop)
	defer cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

// notify wakes the dispatcher without blocking.
func (r *Receiver) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// dispatch claims due events, as many as there are free workers, until stop
// is closed, then waits for the running ones.
func (r *Receiver) dispatch(ctx context.Context, stop <-chan struct{}) {
	a, q := r.cfg.Async, r.cfg.Store.(Queue)
	slots := make(chan struct{}, a.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(a.PollInterval)
	defer tick.Stop()
	for {
		if free := a.Workers - len(slots); free > 0 {
			jobs, err := q.ClaimDue(ctx, newToken(), time.Now().Add(r.cfg.Lease), free)
			if err != nil && ctx.Err() == nil {
				r.cfg.Logger.Error("receive: claim queued events failed", "err", err)
			}
			for _, j := range jobs {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() { <-slots; r.notify() }()
					r.runJob(ctx, q, j)
				})
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-r.wake:
		}
	}
}

// runJob runs one queued event and records its outcome: completed, due
// again after a backoff, or failed after the last attempt.
func (r *Receiver) runJob(ctx context.Context, q Queue, j Job) {
	a := r.cfg.Async
	hctx, cancel := context.WithTimeout(ctx, r.cfg.Lease)
	err := r.run(hctx, j.Event)
	cancel()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	switch {
	case err == nil:
		err = q.Complete(sctx, j.ID)
	case j.Attempt >= a.MaxAttempts:
		r.cfg.Logger.Error("receive: event failed for good", "event_id", j.ID, "attempt", j.Attempt, "err", err)
		err = q.Fail(sctx, j.ID, j.Token, err.Error())
	default:
		wait := a.backoff(j.Attempt)
		if err = q.Retry(sctx, j.ID, j.Token, time.Now().Add(wait), err.Error()); err == nil && wait < a.PollInterval {
			time.AfterFunc(wait, r.notify) // due before the next poll
		}
	}
	if err != nil {
		r.cfg.Logger.Error("receive: record outcome failed; the event runs again after its lease", "event_id", j.ID, "err", err)
	}
}

// cleanLoop deletes expired records now and every CleanupInterval.
func (r *Receiver) cleanLoop(ctx context.Context, c Cleaner, stop <-chan struct{}) {
	tick := time.NewTicker(r.cfg.CleanupInterval)
	defer tick.Stop()
	for {
		if n, err := c.Cleanup(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error("receive: cleanup failed", "err", err)
		} else if n > 0 {
			r.cfg.Logger.Debug("receive: cleaned up", "deleted", n)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
