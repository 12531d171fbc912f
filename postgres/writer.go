package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxTxRetries is how many times a transaction that PostgreSQL aborted for
// a deadlock or a serialization failure is run again before its error is
// returned.
const maxTxRetries = 3

// errRetry is returned by an operation that raced with a concurrent
// change (an endpoint deleted during a fan-out) and must run again in a
// new transaction. Should the retries run out, it reaches the caller as
// EUnavailable: trying again later will do.
var errRetry = herald.Errorf(herald.EUnavailable, "A concurrent change interrupted the write; try again")

// retryTx reports whether a transaction that failed with err should run
// again from the start.
func retryTx(err error) bool { return isRetryable(err) || errors.Is(err, errRetry) }

// wtx is what a write operation runs against: its transaction, a context
// owned by the writer and a flag to set when the operation made deliveries
// due (the transaction then NOTIFYs the store's channel).
type wtx struct {
	ctx    context.Context
	tx     pgx.Tx
	notify bool
}

func (x *wtx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	return x.tx.Exec(x.ctx, query, args...)
}

func (x *wtx) query(query string, args ...any) (pgx.Rows, error) {
	return x.tx.Query(x.ctx, query, args...)
}

func (x *wtx) queryRow(query string, args ...any) pgx.Row {
	return x.tx.QueryRow(x.ctx, query, args...)
}

// write runs fn in a write transaction; what names the operation in
// wrapped errors. Domain errors pass through unwrapped.
func (s *Store) write(ctx context.Context, what string, fn func(w *wtx) error) error {
	err := s.w.do(ctx, fn)
	if err == nil || herald.ErrorCode(err) != herald.EInternal {
		return err
	}
	return fmt.Errorf("%s: %w", what, mapErr(err))
}

// writer runs each write operation in a transaction of its own.
type writer struct {
	s      *Store
	mu     sync.RWMutex // guards closed against new operations
	closed bool
	wg     sync.WaitGroup // running operations
}

func newWriter(s *Store) *writer { return &writer{s: s} }

// close stops accepting operations and waits for the running ones.
func (w *writer) close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
	return nil
}

// do runs fn in a transaction, again when PostgreSQL aborts it for a
// deadlock or serialization failure, and commits it.
func (w *writer) do(ctx context.Context, fn func(w *wtx) error) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	w.wg.Add(1)
	w.mu.RUnlock()
	defer w.wg.Done()
	for attempt := 0; ; attempt++ {
		err := w.runTx(ctx, fn)
		if err == nil || !retryTx(err) || attempt >= maxTxRetries {
			return err
		}
	}
}

func (w *writer) runTx(ctx context.Context, fn func(w *wtx) error) error {
	tx, err := w.s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) // a no-op after Commit
	x := &wtx{ctx: ctx, tx: tx}
	if err := fn(x); err != nil {
		return err
	}
	if x.notify {
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", w.s.channel); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if x.notify {
		w.s.signal()
	}
	return nil
}
