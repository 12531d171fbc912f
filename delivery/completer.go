package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/herald-webhooks/herald"
)

// Completer batching: a batch is written when this many results wait, or
// flushDelay after the first one arrived.
const (
	completeBatch = 512
	flushDelay    = 2 * time.Millisecond
)

// completer writes attempt results to the store in batches, so that many
// attempts share one commit.
type completer struct {
	store herald.DeliveryStore
	log   *slog.Logger
	in    chan herald.DeliveryResult
	wg    sync.WaitGroup
}

func newCompleter(store herald.DeliveryStore, log *slog.Logger) *completer {
	c := &completer{store: store, log: log, in: make(chan herald.DeliveryResult, 4*completeBatch)}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.run() }()
	return c
}

// add queues a result; it blocks while the queue is full (back-pressure on
// the executors).
func (c *completer) add(r herald.DeliveryResult) { c.in <- r }

// close writes every queued result and stops. Only call it once no more
// results can be added.
func (c *completer) close() {
	close(c.in)
	c.wg.Wait()
}

func (c *completer) run() {
	batch := make([]herald.DeliveryResult, 0, completeBatch)
	for first := range c.in {
		batch = append(batch[:0], first)
		timer := time.NewTimer(flushDelay)
	collect:
		for len(batch) < completeBatch {
			select {
			case r, ok := <-c.in:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		c.write(batch)
	}
}

// write stores a batch, retrying with backoff for about a minute. If the
// store stays unavailable the results are dropped: their deliveries are
// still leased as sending and go back to the queue when the lease ends, so
// they are retried (at least once), never lost.
func (c *completer) write(batch []herald.DeliveryResult) {
	backoff := 50 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.store.DeliveryComplete(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.log.Error("giving up writing attempt results; their deliveries will be retried when the lease ends", "count", len(batch), "err", err)
			return
		}
		c.log.Warn("write attempt results", "count", len(batch), "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}
