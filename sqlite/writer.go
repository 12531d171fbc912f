package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Write operation states: an op is queued until the writer takes it or its
// caller gives up on it, whichever happens first.
const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// wtx is what a write operation runs against: the batch's transaction, a
// context owned by the writer (not the caller) and a flag to set when the
// operation made deliveries due.
type wtx struct {
	ctx    context.Context
	tx     *sql.Tx
	notify bool
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	return w.tx.ExecContext(w.ctx, query, args...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	return w.tx.QueryContext(w.ctx, query, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(w.ctx, query, args...)
}

// writeOp is one caller's unit of work.
type writeOp struct {
	fn    func(w *wtx) error
	state atomic.Int32
	done  chan error // buffered 1
}

// writer owns the write connection and commits queued operations in
// groups: one transaction per batch, one SAVEPOINT per operation.
type writer struct {
	db       *sql.DB
	maxBatch int
	logger   *slog.Logger
	onNotify func()

	mu     sync.RWMutex // guards closed against sends on ops
	closed bool
	ops    chan *writeOp
	done   chan struct{}

	commits atomic.Uint64
	nops    atomic.Uint64
}

func newWriter(db *sql.DB, maxBatch int, logger *slog.Logger, onNotify func()) *writer {
	w := &writer{
		db:       db,
		maxBatch: maxBatch,
		logger:   logger,
		onNotify: onNotify,
		ops:      make(chan *writeOp, maxBatch),
		done:     make(chan struct{}),
	}
	go w.run()
	return w
}

func (w *writer) stats() WriteStats {
	return WriteStats{Commits: w.commits.Load(), Ops: w.nops.Load()}
}

func (w *writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}

// close stops accepting operations, lets the writer run every queued one
// and waits for it to stop.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.done
}

// do submits fn and waits for the commit of its batch. If ctx ends before
// the writer has taken the operation, the operation is dropped and ctx's
// error returned; once taken, do waits for the outcome (one commit), so a
// nil error always means the write is durable and an error means it was
// not made.
func (w *writer) do(ctx context.Context, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{fn: fn, done: make(chan error, 1)}
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
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		return <-op.done
	}
}

func (w *writer) run() {
	defer close(w.done)
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
	results, notify, err := w.commitBatch(live)
	if err != nil {
		w.logger.Error("write batch failed", "ops", len(live), "err", err)
		for _, op := range live {
			op.done <- err
		}
		return
	}
	if notify {
		w.onNotify()
	}
	for i, op := range live {
		op.done <- results[i]
	}
}

// commitBatch returns each operation's own error; err is set when the
// whole transaction failed and nothing was written.
func (w *writer) commitBatch(ops []*writeOp) (results []error, notify bool, err error) {
	ctx := context.Background()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("begin write batch: %w", mapErr(err))
	}
	results = make([]error, len(ops))
	for i, op := range ops {
		w.nops.Add(1)
		results[i], err = runSavepoint(ctx, tx, op.fn, &notify)
		if err != nil {
			_ = tx.Rollback()
			return nil, false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("commit write batch: %w", mapErr(err))
	}
	w.commits.Add(1)
	return results, notify, nil
}

// runSavepoint runs fn inside a savepoint. opErr is fn's error, after which
// the savepoint is rolled back; fatal is set when the transaction itself
// can no longer be used.
func runSavepoint(ctx context.Context, tx *sql.Tx, fn func(w *wtx) error, notify *bool) (opErr, fatal error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", mapErr(err))
	}
	w := &wtx{ctx: ctx, tx: tx}
	opErr = callOp(fn, w)
	if opErr != nil {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
			return nil, fmt.Errorf("rollback to savepoint after %v: %w", opErr, mapErr(err))
		}
	}
	if _, err := tx.ExecContext(ctx, "RELEASE op"); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", mapErr(err))
	}
	if opErr == nil && w.notify {
		*notify = true
	}
	return opErr, nil
}

// callOp runs fn, turning a panic into an error so that one bad operation
// cannot take the writer (and every other caller) down.
func callOp(fn func(w *wtx) error, w *wtx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write operation panicked: %v", r)
		}
	}()
	return fn(w)
}
