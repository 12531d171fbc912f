package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-webhooks/herald"
)

// Write operation states: an op is queued until the writer takes it or its
// caller gives up on it, whichever happens first.
const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// maxCachedStmts bounds the writer's prepared statement cache. Queries
// are constant strings except for a few with variable IN lists, so the
// cache stays small; past the bound, statements run unprepared.
const maxCachedStmts = 128

// wtx is what a write operation runs against: the batch's transaction on
// the write connection, a context owned by the writer (not the caller) and
// a flag to set when the operation made deliveries due. Its statements are
// prepared once per connection and reused across batches.
type wtx struct {
	ctx    context.Context
	w      *writer
	notify bool
}

// stmt returns the cached prepared statement for query, preparing it on
// first use, or nil when the cache is full.
func (x *wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := x.w.stmts[query]; ok {
		return st, nil
	}
	if len(x.w.stmts) >= maxCachedStmts {
		return nil, nil
	}
	st, err := x.w.conn.PrepareContext(x.ctx, query)
	if err != nil {
		return nil, err
	}
	x.w.stmts[query] = st
	return st, nil
}

// due notes that the operation made a delivery to the endpoint pending,
// due at `at` (for the store's due index).
func (x *wtx) due(endpointID string, at time.Time) {
	if x.w.onDue != nil {
		x.w.onDue(endpointID, at)
	}
}

func (x *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := x.stmt(query)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return x.w.conn.ExecContext(x.ctx, query, args...)
	}
	return st.ExecContext(x.ctx, args...)
}

func (x *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := x.stmt(query)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return x.w.conn.QueryContext(x.ctx, query, args...)
	}
	return st.QueryContext(x.ctx, args...)
}

func (x *wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := x.stmt(query)
	if err != nil || st == nil {
		// Unprepared, so that a preparation error surfaces from Scan.
		return x.w.conn.QueryRowContext(x.ctx, query, args...)
	}
	return st.QueryRowContext(x.ctx, args...)
}

// QueryContext implements querier, for the helpers shared with reads.
func (x *wtx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	return x.query(query, args...)
}

// QueryRowContext implements querier.
func (x *wtx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return x.queryRow(query, args...)
}

// writeOp is one caller's unit of work.
type writeOp struct {
	fn    func(w *wtx) error
	state atomic.Int32
	done  chan error // buffered 1
}

// writer owns the write connection and commits queued operations in
// groups: one transaction per batch, one SAVEPOINT per operation. It runs
// BEGIN IMMEDIATE, SAVEPOINT and COMMIT itself on a connection it holds for
// its whole life, so that its prepared statements can be reused across
// transactions.
type writer struct {
	db       *sql.DB
	conn     *sql.Conn
	stmts    map[string]*sql.Stmt // owned by the run goroutine
	fanOut   *fanOutCache         // owned by the run goroutine
	maxBatch int
	logger   *slog.Logger
	onNotify func()
	// Set before the first operation: onDue sees every delivery made
	// pending, onRollback every rolled-back transaction or savepoint.
	onDue      func(endpointID string, at time.Time)
	observer   herald.StoreObserver // told about each batch; may be nil
	onRollback func()
	codec      herald.SecretCodec // the store's, for endpoints read in transactions

	mu     sync.RWMutex // guards closed against sends on ops
	closed bool
	ops    chan *writeOp
	done   chan struct{}

	commits atomic.Uint64
	nops    atomic.Uint64
}

func newWriter(ctx context.Context, db *sql.DB, maxBatch int, logger *slog.Logger, onNotify func()) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open write connection: %w", err)
	}
	w := &writer{
		db:       db,
		conn:     conn,
		stmts:    map[string]*sql.Stmt{},
		fanOut:   newFanOutCache(),
		maxBatch: maxBatch,
		logger:   logger,
		onNotify: onNotify,
		ops:      make(chan *writeOp, maxBatch),
		done:     make(chan struct{}),
	}
	go w.run()
	return w, nil
}

func (w *writer) stats() WriteStats {
	return WriteStats{Commits: w.commits.Load(), Ops: w.nops.Load()}
}

func (w *writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}

// close stops accepting operations, lets the writer run every queued one,
// waits for it to stop and releases the write connection.
func (w *writer) close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.done
	if w.conn != nil {
		// Let SQLite refresh the planner's statistics if it sees the need.
		if _, err := w.conn.ExecContext(context.Background(), "PRAGMA optimize"); err != nil {
			w.logger.Warn("optimize on close", "err", err)
		}
	}
	return w.releaseConn()
}

// releaseConn closes the prepared statements and the write connection.
func (w *writer) releaseConn() error {
	var errs []error
	for q, st := range w.stmts {
		errs = append(errs, st.Close())
		delete(w.stmts, q)
	}
	if w.conn != nil {
		errs = append(errs, w.conn.Close())
		w.conn = nil
	}
	return errors.Join(errs...)
}

// renewConn replaces a write connection that database/sql reports broken.
func (w *writer) renewConn(ctx context.Context) error {
	if err := w.releaseConn(); err != nil {
		w.logger.Warn("release broken write connection", "err", err)
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	w.conn = conn
	return nil
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
	start := time.Now()
	results, notify, err := w.commitBatch(live)
	if w.observer != nil {
		w.observer.ObserveCommit(len(live), time.Since(start), err)
	}
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
// whole transaction failed and nothing was written. It first runs the
// operations without savepoints (the common case: none fails); if one
// fails, it rolls the transaction back and runs the batch again with a
// savepoint per operation, so that only the failing ones are undone.
// Operations are therefore safe to run twice: each sets its outputs afresh
// on every run.
func (w *writer) commitBatch(ops []*writeOp) (results []error, notify bool, err error) {
	results, notify, failed, err := w.runBatchTx(ops, false)
	if err != nil || !failed {
		return results, notify, err
	}
	results, notify, _, err = w.runBatchTx(ops, true)
	return results, notify, err
}

// runBatchTx runs ops in one transaction, each in a savepoint when
// savepoints is set. Without savepoints, the first failing operation rolls
// the whole transaction back: a batch of one then has its answer (the
// rollback undid exactly that operation), a larger one reports failed.
func (w *writer) runBatchTx(ops []*writeOp, savepoints bool) (results []error, notify, failed bool, err error) {
	ctx := context.Background()
	x := &wtx{ctx: ctx, w: w}
	if err := w.begin(ctx); err != nil {
		return nil, false, false, fmt.Errorf("begin write batch: %w", mapErr(err))
	}
	results = make([]error, len(ops))
	for i, op := range ops {
		if !savepoints {
			x.notify = false
			if opErr := callOp(op.fn, x); opErr != nil {
				w.rollback(ctx)
				if len(ops) == 1 {
					w.nops.Add(1)
					return []error{opErr}, false, false, nil
				}
				return nil, false, true, nil
			}
			notify = notify || x.notify
			continue
		}
		results[i], err = runSavepoint(x, op.fn, &notify)
		if err != nil {
			w.rollback(ctx)
			return nil, false, false, err
		}
	}
	if _, err := x.exec("COMMIT"); err != nil {
		w.rollback(ctx)
		return nil, false, false, fmt.Errorf("commit write batch: %w", mapErr(err))
	}
	w.commits.Add(1)
	w.nops.Add(uint64(len(ops)))
	return results, notify, false, nil
}

// begin starts the batch's transaction, renewing the connection once if
// database/sql reports it broken.
func (w *writer) begin(ctx context.Context) error {
	if w.conn == nil { // a renewal failed before
		if err := w.renewConn(ctx); err != nil {
			return err
		}
	}
	x := &wtx{ctx: ctx, w: w}
	_, err := x.exec("BEGIN IMMEDIATE")
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		if err := w.renewConn(ctx); err != nil {
			return err
		}
		_, err = x.exec("BEGIN IMMEDIATE")
	}
	return err
}

// rolledBack forgets what the writer's caches learnt from a transaction
// or savepoint that is being undone.
func (w *writer) rolledBack() {
	w.fanOut.reset()
	if w.onRollback != nil {
		w.onRollback()
	}
}

// rollback ends a failed batch's transaction; SQLite may have rolled it
// back already, so an error here only goes to the log.
func (w *writer) rollback(ctx context.Context) {
	w.rolledBack()
	if w.conn == nil {
		return
	}
	if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		w.logger.Debug("rollback write batch", "err", err)
	}
}

// runSavepoint runs fn inside a savepoint. opErr is fn's error, after which
// the savepoint is rolled back; fatal is set when the transaction itself
// can no longer be used.
func runSavepoint(x *wtx, fn func(w *wtx) error, notify *bool) (opErr, fatal error) {
	if _, err := x.exec("SAVEPOINT op"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", mapErr(err))
	}
	x.notify = false
	opErr = callOp(fn, x)
	if opErr != nil {
		x.w.rolledBack()
		if _, err := x.exec("ROLLBACK TO op"); err != nil {
			return nil, fmt.Errorf("rollback to savepoint after %v: %w", opErr, mapErr(err))
		}
	}
	if _, err := x.exec("RELEASE op"); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", mapErr(err))
	}
	if opErr == nil && x.notify {
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
