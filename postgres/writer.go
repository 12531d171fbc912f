package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxTxRetries is how many times a batch that PostgreSQL aborted for a
// deadlock or a serialization failure is run again before its error is
// returned.
const maxTxRetries = 3

// errRetry is returned by an operation that raced with a concurrent
// change (an endpoint deleted during a fan-out) and must run again in a
// new transaction. Should the retries run out, it reaches the caller as
// EUnavailable: trying again later will do.
var errRetry = herald.Errorf(herald.EUnavailable, "A concurrent change interrupted the write; try again")

// errNoAnswer is returned to a caller whose context ended while its
// operation was running: the write may still commit.
var errNoAnswer = herald.Errorf(herald.EUnavailable, "The database did not answer in time")

// retryTx reports whether a transaction that failed with err should run
// again from the start.
func retryTx(err error) bool { return isRetryable(err) || errors.Is(err, errRetry) }

// wtx is what a write operation runs against: its batch's transaction (or
// the operation's savepoint in it), a context owned by the writer and a
// flag to set when the operation made deliveries due (the batch then
// NOTIFYs the store's channel).
type wtx struct {
	ctx    context.Context
	tx     pgx.Tx
	notify bool
	codec  herald.SecretCodec // the store's, for endpoints read in transactions
}

func (x *wtx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	return x.tx.Exec(x.ctx, query, args...)
}

// write runs fn through the group-committing writer; what names the
// operation in wrapped errors. Domain errors pass through unwrapped.
func (s *Store) write(ctx context.Context, what string, fn func(w *wtx) error) error {
	return s.submit(ctx, what, &writeOp{fn: fn})
}

// submit runs op through the writer; see write.
func (s *Store) submit(ctx context.Context, what string, op *writeOp) error {
	err := s.w.do(ctx, op)
	if err == nil || herald.ErrorCode(err) != herald.EInternal {
		return err
	}
	return fmt.Errorf("%s: %w", what, mapErr(err))
}

// Write operation states: an op is queued until a writer takes it or its
// caller gives up on it, whichever happens first.
const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// writeOp is one caller's unit of work: fn, which runs against a
// transaction, and for an operation that can be pipelined the same work
// as statements (pipe; fn then sends them).
type writeOp struct {
	fn    func(w *wtx) error
	pipe  *pipeOp
	state atomic.Int32
	done  chan error // buffered 1
}

// writer commits queued operations in groups: each of its goroutines takes
// every queued operation (up to maxBatch), runs them in one transaction on
// a pooled connection, commits once and then answers every caller. It runs
// a batch without savepoints first; if an operation fails, it rolls back
// and runs the batch again with a savepoint per operation, so that only
// the failing ones are undone. Operations are therefore safe to run more
// than once: each sets its outputs afresh on every run.
type writer struct {
	s        *Store
	maxBatch int
	timeout  time.Duration
	logger   *slog.Logger

	mu     sync.RWMutex // guards closed against sends on ops
	closed bool
	ops    chan *writeOp
	wg     sync.WaitGroup // the writer goroutines

	peers     chan struct{} // buffered 1: a NOTIFY is wanted
	peersOnce sync.Once     // closes peers
	notifier  sync.WaitGroup

	commits atomic.Uint64
	nops    atomic.Uint64
}

// newWriter starts s.cfg.Writers writer goroutines.
func newWriter(s *Store) *writer {
	w := &writer{
		s:        s,
		maxBatch: s.cfg.MaxBatch,
		timeout:  s.cfg.WriteTimeout,
		logger:   s.cfg.Logger,
		ops:      make(chan *writeOp, s.cfg.MaxBatch*s.cfg.Writers),
		peers:    make(chan struct{}, 1),
	}
	for range s.cfg.Writers {
		w.wg.Go(w.run)
	}
	w.notifier.Go(w.notifyPeers)
	return w
}

// notifyTimeout bounds one NOTIFY.
const notifyTimeout = 5 * time.Second

// notifyPeers sends a NOTIFY on the store's channel, after the commit, for
// every batch that made deliveries due, merging the requests that come
// while one is being sent, until the writer closes.
//
// The NOTIFY is not part of the batch's transaction: a transaction that
// notifies holds PostgreSQL's global notification lock from its commit
// until its commit record is flushed, so write batches that notified would
// commit one at a time, each waiting for the previous one's flush, instead
// of sharing WAL flushes. Sent after the commit, a notification still
// reaches the other nodes after the data it announces is visible, and
// merging bounds them to one in flight per store. Should one be lost (the
// database failed meanwhile), the other nodes find the deliveries at their
// next poll, as they would after missing any notification.
func (w *writer) notifyPeers() {
	for range w.peers {
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		if _, err := w.s.pool.Exec(ctx, "SELECT pg_notify($1, '')", w.s.channel); err != nil {
			w.logger.Debug("notify other nodes", "err", err)
		}
		cancel()
	}
}

// wakePeers asks notifyPeers for a NOTIFY without blocking.
func (w *writer) wakePeers() {
	select {
	case w.peers <- struct{}{}:
	default:
	}
}

// WriteStats counts the writer's work since Open.
type WriteStats struct {
	// Commits is the number of transactions committed.
	Commits uint64
	// Ops is the number of write operations committed, whether they
	// succeeded or were rolled back alone.
	Ops uint64
}

// WriteStats returns the writer's counters, for metrics.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Commits: s.w.commits.Load(), Ops: s.w.nops.Load()}
}

// close stops accepting operations, lets the writers run every queued one
// and waits for them to stop.
func (w *writer) close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	w.wg.Wait()
	w.peersOnce.Do(func() { close(w.peers) }) // after the writers: none sends any more
	w.notifier.Wait()
	return nil
}

// do submits fn and waits for the commit of its batch; nil means the write
// is committed. If ctx ends before a writer has taken the operation, the
// operation is dropped and ctx's error returned. If ctx ends while it
// runs, do returns at once (EUnavailable when the deadline passed) and the
// write may still commit, as with any lost acknowledgement from a database
// server.
func (w *writer) do(ctx context.Context, op *writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan error, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.ops <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", errNoAnswer, ctx.Err())
	}
}

// run takes batches of queued operations until the queue is closed and
// empty.
func (w *writer) run() {
	batch := make([]*writeOp, 0, w.maxBatch)
	for op := range w.ops {
		batch = append(batch[:0], op)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case next, ok := <-w.ops:
				if !ok {
					break fill
				}
				batch = append(batch, next)
			default:
				break fill
			}
		}
		w.runBatch(batch)
		clear(batch)
	}
}

// runBatch runs the live operations of batch in one transaction and
// answers each caller after the commit.
func (w *writer) runBatch(batch []*writeOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if op.state.CompareAndSwap(opQueued, opTaken) {
			live = append(live, op)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	start := time.Now()
	results, notify, err := w.commitBatch(ctx, live)
	if obs := w.s.cfg.Observer; obs != nil {
		obs.ObserveCommit(len(live), time.Since(start), err)
	}
	if err != nil {
		w.logger.Warn("write batch failed", "ops", len(live), "err", err)
		for _, op := range live {
			op.done <- err
		}
		return
	}
	if notify {
		w.s.signal()
		w.wakePeers()
	}
	for i, op := range live {
		op.done <- results[i]
	}
}

// commitBatch returns each operation's own error; err is set when the
// whole transaction failed and nothing was written. A batch aborted for a
// deadlock or serialization failure runs again, a few times at most. A
// batch of several operations runs without savepoints first (the common
// case: none fails), pipelined when every operation can be; if one fails,
// it runs again with a savepoint per operation.
func (w *writer) commitBatch(ctx context.Context, ops []*writeOp) (results []error, notify bool, err error) {
	pipelined := true
	for _, op := range ops {
		pipelined = pipelined && op.pipe != nil
	}
	for attempt := 0; ; attempt++ {
		var failed bool
		if pipelined {
			results, notify, failed, err = w.runPipelined(ctx, ops)
		} else {
			results, notify, failed, err = w.runBatchTx(ctx, ops, false)
		}
		if err == nil && failed && len(ops) > 1 {
			results, notify, _, err = w.runBatchTx(ctx, ops, true)
		}
		if err == nil || !retryTx(err) || attempt >= maxTxRetries {
			return results, notify, err
		}
	}
}

// runBatchTx runs ops in one transaction, each in a savepoint when
// savepoints is set. Without savepoints, the first failing operation rolls
// the whole transaction back and failed is reported, with that
// operation's error in results. An operation failing for a reason that
// needs the whole transaction run again (a deadlock) is returned as err.
func (w *writer) runBatchTx(ctx context.Context, ops []*writeOp, savepoints bool) (results []error, notify, failed bool, err error) {
	tx, err := w.s.pool.Begin(ctx)
	if err != nil {
		return nil, false, false, fmt.Errorf("begin write batch: %w", err)
	}
	defer rollback(tx) // a no-op after Commit
	results = make([]error, len(ops))
	for i, op := range ops {
		x := &wtx{ctx: ctx, tx: tx, codec: w.s.codec}
		var opErr error
		if savepoints {
			if opErr, err = runSavepoint(x, op.fn); err != nil {
				return nil, false, false, err
			}
		} else {
			opErr = callOp(op.fn, x)
		}
		if opErr != nil && retryTx(opErr) {
			return nil, false, false, opErr
		}
		if opErr != nil && !savepoints {
			results[i] = opErr
			return results, false, true, nil
		}
		results[i] = opErr
		notify = notify || (opErr == nil && x.notify)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, false, fmt.Errorf("commit write batch: %w", err)
	}
	w.commits.Add(1)
	w.nops.Add(uint64(len(ops)))
	return results, notify, false, nil
}

// rollbackTimeout bounds a rollback, which a dead connection could
// otherwise hold up.
const rollbackTimeout = 5 * time.Second

// rollback ends tx unless it was committed; its error only means that the
// connection is gone, which ends the transaction too.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// runSavepoint runs fn inside a savepoint of x's transaction. opErr is
// fn's error, after which the savepoint is rolled back; fatal is set when
// the transaction itself can no longer be used.
func runSavepoint(x *wtx, fn func(w *wtx) error) (opErr, fatal error) {
	sp, err := x.tx.Begin(x.ctx) // SAVEPOINT
	if err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	inner := &wtx{ctx: x.ctx, tx: sp, codec: x.codec}
	if opErr = callOp(fn, inner); opErr != nil {
		if err := sp.Rollback(x.ctx); err != nil {
			return nil, fmt.Errorf("rollback to savepoint after %v: %w", opErr, err)
		}
		return opErr, nil
	}
	if err := sp.Commit(x.ctx); err != nil { // RELEASE SAVEPOINT
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	x.notify = inner.notify
	return nil, nil
}

// callOp runs fn, turning a panic into an error so that one bad operation
// cannot take a writer (and every other caller) down.
func callOp(fn func(w *wtx) error, w *wtx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write operation panicked: %v", r)
		}
	}()
	return fn(w)
}
