package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/herald-webhooks/herald"
)

// querier is what read helpers run against: the read pool, a read
// transaction or the writer's transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn through the group-committing writer; what names the
// operation in wrapped errors. Domain errors pass through unwrapped.
func (s *Store) write(ctx context.Context, what string, fn func(w *wtx) error) error {
	err := s.w.do(ctx, fn)
	if err == nil || herald.ErrorCode(err) != herald.EInternal {
		return err
	}
	return fmt.Errorf("%s: %w", what, mapErr(err))
}

// read runs fn against the read pool. Its queries are prepared once per
// read connection and reused; they do not share a snapshot, which the
// store's reads do not need (a parent check followed by a list can at
// worst miss a concurrent delete).
func (s *Store) read(ctx context.Context, what string, fn func(q querier) error) error {
	if s.w.isClosed() {
		return errClosed
	}
	if err := fn(s.reader); err != nil {
		if herald.ErrorCode(err) != herald.EInternal {
			return err
		}
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return nil
}

// maxReadStmts bounds the read statement cache; past it, queries run
// unprepared.
const maxReadStmts = 256

// reader runs queries on the read pool through prepared statements that
// database/sql prepares on each connection on first use.
type reader struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newReader(db *sql.DB) *reader {
	return &reader{db: db, stmts: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement for query, or nil when the cache is
// full or preparing failed (the query then reports the error itself).
func (r *reader) stmt(ctx context.Context, query string) *sql.Stmt {
	r.mu.Lock()
	st, ok := r.stmts[query]
	full := len(r.stmts) >= maxReadStmts
	r.mu.Unlock()
	if ok || full {
		return st
	}
	// Prepared without holding the lock: it waits for a free connection.
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.stmts[query]; ok {
		st.Close()
		return prev
	}
	r.stmts[query] = st
	return st
}

// QueryContext implements querier.
func (r *reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, query, args...)
}

// QueryRowContext implements querier.
func (r *reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, query, args...)
}

// close closes the cached statements.
func (r *reader) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for q, st := range r.stmts {
		errs = append(errs, st.Close())
		delete(r.stmts, q)
	}
	return errors.Join(errs...)
}

// listParams fills in the default page size.
func listParams(p herald.ListParams) herald.ListParams {
	if p.Limit <= 0 {
		p.Limit = herald.DefaultListLimit
	}
	return p
}

// pageBounds returns the cursor condition on col ("" when there is none,
// else "AND col > ?" or "AND col < ?"), its arguments and the ORDER BY
// direction of the walk, for a list whose natural order is ascending when
// p.Ascending.
func pageBounds(col string, p herald.ListParams) (cond string, args []any, dir string) {
	key, backward := p.Cursor()
	walkAsc := p.Ascending != backward
	dir, op := "DESC", "<"
	if walkAsc {
		dir, op = "ASC", ">"
	}
	if key == "" {
		return "", nil, dir
	}
	return fmt.Sprintf(" AND %s %s ?", col, op), []any{key}, dir
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	switch {
	case err == sql.ErrNoRows:
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// appExists reports whether the application with this ID exists.
func appExists(ctx context.Context, q querier, appID string) error {
	ok, err := exists(ctx, q, "SELECT 1 FROM applications WHERE id = ?", appID)
	if err != nil {
		return err
	}
	if !ok {
		return errAppNotFound
	}
	return nil
}

// endpointExists checks that the endpoint exists in the application.
func endpointExists(ctx context.Context, q querier, appID, endpointID string) error {
	ok, err := exists(ctx, q, "SELECT 1 FROM endpoints WHERE id = ? AND app_id = ?", endpointID, appID)
	if err != nil {
		return err
	}
	if !ok {
		return errEndpointNotFound
	}
	return nil
}

// messageExists checks that the message exists in the application.
func messageExists(ctx context.Context, q querier, appID, msgID string) error {
	ok, err := exists(ctx, q, "SELECT 1 FROM messages WHERE id = ? AND app_id = ?", msgID, appID)
	if err != nil {
		return err
	}
	if !ok {
		return errMessageNotFound
	}
	return nil
}

// collect scans every row of rows with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// affected returns the rows a statement changed.
func affected(res sql.Result) (int, error) {
	n, err := res.RowsAffected()
	return int(n), err
}
