package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
)

// exportRows implements herald.ExportRows over one table's query.
type exportRows struct {
	table exportTable
	rows  *sql.Rows
	err   error
}

// Next implements herald.ExportRows.
func (r *exportRows) Next() bool {
	return r.err == nil && r.rows.Next()
}

// Values implements herald.ExportRows: it decodes the current row.
func (r *exportRows) Values() ([]any, error) {
	vals := make([]any, len(r.table.columns))
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := r.rows.Scan(dest...); err != nil {
		r.err = fmt.Errorf("export %s: %w", r.table.name, err)
		return nil, r.err
	}
	for i, c := range r.table.columns {
		v, err := decodeColumn(c.kind, vals[i])
		if err != nil {
			r.err = fmt.Errorf("export %s: column %s: %w", r.table.name, c.name, err)
			return nil, r.err
		}
		vals[i] = v
	}
	return vals, nil
}

// Err implements herald.ExportRows.
func (r *exportRows) Err() error {
	if r.err != nil {
		return r.err
	}
	if err := r.rows.Err(); err != nil {
		return fmt.Errorf("export %s: %w", r.table.name, mapErr(err))
	}
	return nil
}

// decodeColumn turns a value as the driver returns it (nil, int64,
// float64, string or []byte) into the store-neutral value of its kind.
func decodeColumn(kind columnKind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case textColumn:
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		}
	case intColumn, boolColumn, timeColumn:
		if n, ok := v.(int64); ok {
			return decodeInt(kind, n), nil
		}
	case namesColumn, jsonColumn:
		return decodeJSON(kind, v)
	case blobColumn:
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			return []byte(b), nil
		}
	}
	return nil, fmt.Errorf("unexpected stored value of type %T", v)
}

// decodeInt decodes an INTEGER column.
func decodeInt(kind columnKind, n int64) any {
	switch kind {
	case boolColumn:
		return n != 0
	case timeColumn:
		return fromTS(n)
	}
	return n
}

// decodeJSON decodes a JSON TEXT column: a list of names, or a document
// passed on as it is stored.
func decodeJSON(kind columnKind, v any) (any, error) {
	var text []byte
	switch s := v.(type) {
	case string:
		text = []byte(s)
	case []byte:
		text = s
	default:
		return nil, fmt.Errorf("unexpected stored value of type %T", v)
	}
	if !json.Valid(text) {
		return nil, fmt.Errorf("stored value is not JSON: %.40q", text)
	}
	if kind == jsonColumn {
		return json.RawMessage(text), nil
	}
	var names []string
	if err := json.Unmarshal(text, &names); err != nil {
		return nil, fmt.Errorf("stored value is not a list of strings: %w", err)
	}
	return names, nil
}
