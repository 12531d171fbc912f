package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald"
)

// convertFunc turns an exported value (see herald.ExportRows) into the
// value COPY writes into one column, or says why it cannot.
type convertFunc func(v any) (any, error)

// columnInfo is one column of a table, as the database describes it.
type columnInfo struct {
	udt      string // the type's name: text, int4, _text, jsonb, ...
	nullable bool
}

// converters returns the convertFunc of each of t's columns, by the type
// of the column of that name in the schema's table.
func converters(ctx context.Context, q querier, t herald.ExportTable) ([]convertFunc, error) {
	rows, err := q.Query(ctx, `SELECT column_name, udt_name, is_nullable = 'YES' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, t.Name)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
	}
	cols := map[string]columnInfo{}
	_, err = collect(rows, func(sc scanner) (struct{}, error) {
		var name string
		var c columnInfo
		err := sc.Scan(&name, &c.udt, &c.nullable)
		cols[name] = c
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t.Name, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("import %s: the schema has no such table", t.Name)
	}
	out := make([]convertFunc, len(t.Columns))
	for i, name := range t.Columns {
		c, ok := cols[name]
		if !ok {
			return nil, fmt.Errorf("import %s: the table has no column %s", t.Name, name)
		}
		if out[i], err = converter(c); err != nil {
			return nil, fmt.Errorf("import %s: column %s: %w", t.Name, name, err)
		}
	}
	return out, nil
}

// converter returns the convertFunc for a column of type c: each type
// takes one kind of exported value (and nil, for NULL). Text loses what
// PostgreSQL cannot hold (see textValue). A zero time is
// NULL where the column allows it, as the store writes "not set"; in a
// NOT NULL column it stays the zero instant, which reads back as the zero
// time.
func converter(c columnInfo) (convertFunc, error) {
	switch c.udt {
	case "text", "varchar":
		return textValue, nil
	case "int2", "int4", "int8":
		return accept[int64], nil // pgx checks the range
	case "bool":
		return accept[bool], nil
	case "bytea":
		return accept[[]byte], nil
	case "_text":
		return accept[[]string], nil
	case "jsonb", "json":
		return accept[json.RawMessage], nil
	case "timestamptz":
		return func(v any) (any, error) {
			t, err := accept[time.Time](v)
			if c.nullable && t != nil && t.(time.Time).IsZero() {
				return nil, err
			}
			return t, err
		}, nil
	}
	return nil, fmt.Errorf("columns of type %s cannot be imported", c.udt)
}

// textValue accepts a string, with each NUL byte and invalid UTF-8
// sequence replaced by U+FFFD: PostgreSQL text holds neither, and SQLite
// holds both (a receiver's binary response body, say).
func textValue(v any) (any, error) {
	t, err := accept[string](v)
	s, ok := t.(string)
	if !ok {
		return t, err
	}
	return pgText(s), nil
}

// accept passes v through when it is nil or a T (a nil slice becomes
// nil, NULL), and fails otherwise.
func accept[T any](v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	t, ok := v.(T)
	if !ok {
		var want T
		return nil, fmt.Errorf("a %T cannot be stored where a %T is expected", v, want)
	}
	switch s := any(t).(type) {
	case []byte:
		if s == nil {
			return nil, nil
		}
	case []string:
		if s == nil {
			return nil, nil
		}
	case json.RawMessage:
		if s == nil {
			return nil, nil
		}
	}
	return v, nil
}

// importRows is the pgx.CopyFromSource of one table: src's rows, converted.
type importRows struct {
	table string
	cols  []string
	src   herald.ExportRows
	conv  []convertFunc
	err   error
}

// Next implements pgx.CopyFromSource.
func (r *importRows) Next() bool { return r.err == nil && r.src.Next() }

// Values implements pgx.CopyFromSource.
func (r *importRows) Values() ([]any, error) {
	vals, err := r.src.Values()
	if err == nil && len(vals) != len(r.conv) {
		err = fmt.Errorf("import %s: a row has %d values for %d columns", r.table, len(vals), len(r.conv))
	}
	for i := 0; err == nil && i < len(vals); i++ {
		if vals[i], err = r.conv[i](vals[i]); err != nil {
			err = fmt.Errorf("import %s: column %s: %w", r.table, r.cols[i], err)
		}
	}
	r.err = err
	return vals, err
}

// Err implements pgx.CopyFromSource.
func (r *importRows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.src.Err()
}
