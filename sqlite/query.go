package sqlite

import (
	"context"
	"database/sql"
	"fmt"

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

// read runs fn in one read transaction, so that its queries see one
// snapshot.
func (s *Store) read(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	if s.w.isClosed() {
		return errClosed
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if herald.ErrorCode(err) != herald.EInternal {
			return err
		}
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return nil
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
