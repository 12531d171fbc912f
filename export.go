package herald

import "context"

// Exporter is a store whose user data can be read out table by table, to
// move it into another store (herald migrate-store copies the embedded
// database into PostgreSQL this way).
type Exporter interface {
	// Export calls fn once for each table of user data, parents before
	// children (so that the rows can be written in order under foreign
	// keys), all read from one snapshot. The rows are valid only during
	// the call; fn should read them all. Export stops at the first error,
	// fn's or its own.
	//
	// Runtime state is not user data: schema history, leader terms and
	// the like are not exported, and a delivery leased to a sender (status
	// sending) is exported as pending, due at the time of the export, with
	// its attempt count kept, since the lease's holder is gone.
	Export(ctx context.Context, fn func(ctx context.Context, t ExportTable) error) error
}

// ExportTable is one table of user data being exported: the table's name
// and columns, which are those of the same table in every store, and its
// rows.
type ExportTable struct {
	// Name is the table's name.
	Name string
	// Columns names the values of each row, in order.
	Columns []string
	// Rows reads the table's rows.
	Rows ExportRows
}

// ExportRows reads one table's rows, one at a time. Its methods are those
// of a database cursor (and of pgx's CopyFromSource).
//
// Values are in a store-neutral form, one per column: nil (NULL), string,
// int64, bool, []byte (binary data, such as a payload kept byte for
// byte), []string (a list of names), json.RawMessage (a JSON document) or
// time.Time, whose zero value means "not set".
type ExportRows interface {
	// Next moves to the next row and reports whether there is one; false
	// at the end or after an error.
	Next() bool
	// Values returns the current row's values, one per column.
	Values() ([]any, error)
	// Err returns the error that stopped Next, if any.
	Err() error
}

// TableCount is the number of rows in one table.
type TableCount struct {
	// Table is the table's name.
	Table string
	// Rows is its number of rows.
	Rows int64
}
