package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what queries run against: the pool (reads, claims) or a write
// batch's transaction.
type querier interface {
	Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// read runs fn against the pool; what names the operation in wrapped
// errors. Domain errors pass through unwrapped. Reads do not share a
// snapshot: a parent check followed by a list can at worst miss a
// concurrent delete, as in the SQLite store.
func (s *Store) read(ctx context.Context, what string, fn func(q querier) error) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := fn(s.pool); err != nil {
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
// else " AND col > $n" or " AND col < $n"), adding its argument to a, and
// the ORDER BY direction of the walk, for a list whose natural order is
// ascending when p.Ascending.
func pageBounds(col string, p herald.ListParams, a *args) (cond, dir string) {
	key, backward := p.Cursor()
	walkAsc := p.Ascending != backward
	dir, op := "DESC", "<"
	if walkAsc {
		dir, op = "ASC", ">"
	}
	if key == "" {
		return "", dir
	}
	return fmt.Sprintf(" AND %s %s %s", col, op, a.add(key)), dir
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRow(ctx, query, args...).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// appExists checks that the application with this ID exists.
func appExists(ctx context.Context, q querier, appID string) error {
	ok, err := exists(ctx, q, "SELECT 1 FROM applications WHERE id = $1", appID)
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
	ok, err := exists(ctx, q, "SELECT 1 FROM endpoints WHERE id = $1 AND app_id = $2", endpointID, appID)
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
	ok, err := exists(ctx, q, "SELECT 1 FROM messages WHERE id = $1 AND app_id = $2", msgID, appID)
	if err != nil {
		return err
	}
	if !ok {
		return errMessageNotFound
	}
	return nil
}

// collect scans every row of rows with scan.
func collect[T any](rows pgx.Rows, scan func(scanner) (T, error)) ([]T, error) {
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

// queryAll runs query on q and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scan)
}

// affectedOrNotFound returns notFound when a statement changed no row.
func affectedOrNotFound(tag pgconn.CommandTag, err error, notFound *herald.Error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound
	}
	return nil
}
