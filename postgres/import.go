package postgres

import (
	"context"
	"fmt"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

// Import copies everything src exports into the store's schema, in one
// transaction, so that a failure leaves nothing copied. Each table is
// locked against writes, must be empty (EConflict naming the schema and
// the table otherwise: Import never merges), is filled with COPY from the
// streamed rows, converted by the column's type (see converter), and
// analyzed. It returns the number of rows copied into each table, in the
// order src exported them.
//
// Import writes only the tables src exports: state of this store's own,
// such as leader terms, starts empty.
func (s *Store) Import(ctx context.Context, src herald.Exporter) ([]herald.TableCount, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", mapErr(err))
	}
	defer rollback(tx) // a no-op after Commit
	var counts []herald.TableCount
	err = src.Export(ctx, func(ctx context.Context, t herald.ExportTable) error {
		n, err := importTable(ctx, tx, t)
		counts = append(counts, herald.TableCount{Table: t.Name, Rows: n})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", mapErr(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("import: commit: %w", mapErr(err))
	}
	return counts, nil
}

// importTable locks the table, checks that it is empty and copies t's rows
// into it.
func importTable(ctx context.Context, tx pgx.Tx, t herald.ExportTable) (int64, error) {
	name := pgx.Identifier{t.Name}.Sanitize()
	// EXCLUSIVE leaves reads alone but makes every other writer wait for
	// the commit, so that no one fills the table between check and copy.
	if _, err := tx.Exec(ctx, "LOCK TABLE "+name+" IN EXCLUSIVE MODE"); err != nil {
		return 0, fmt.Errorf("lock %s: %w", t.Name, err)
	}
	if err := requireEmpty(ctx, tx, t.Name); err != nil {
		return 0, err
	}
	conv, err := converters(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.Name}, t.Columns, &importRows{table: t.Name, cols: t.Columns, src: t.Rows, conv: conv})
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", t.Name, err)
	}
	// Fresh statistics, so that the first claims after the move plan
	// with the table's real size (ANALYZE counts this transaction's rows).
	if _, err := tx.Exec(ctx, "ANALYZE "+name); err != nil {
		return n, fmt.Errorf("analyze %s: %w", t.Name, err)
	}
	return n, nil
}

// requireEmpty returns EConflict when the table holds a row.
func requireEmpty(ctx context.Context, q querier, table string) error {
	full, err := exists(ctx, q, "SELECT 1 FROM "+pgx.Identifier{table}.Sanitize()+" LIMIT 1")
	if err != nil {
		return fmt.Errorf("check %s: %w", table, err)
	}
	if !full {
		return nil
	}
	var schema string
	if err := q.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("check %s: %w", table, err)
	}
	return herald.Errorf(herald.EConflict,
		"PostgreSQL schema %q already holds %s: the import writes only into an empty schema", schema, table)
}

// TableCounts returns the number of rows of each named table.
func (s *Store) TableCounts(ctx context.Context, tables []string) ([]herald.TableCount, error) {
	out := make([]herald.TableCount, 0, len(tables))
	err := s.read(ctx, "count rows", func(q querier) error {
		for _, name := range tables {
			var n int64
			if err := q.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{name}.Sanitize()).Scan(&n); err != nil {
				return err
			}
			out = append(out, herald.TableCount{Table: name, Rows: n})
		}
		return nil
	})
	return out, err
}
