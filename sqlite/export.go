package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

// columnKind is how the store encodes one column, and so how Export
// decodes it into a store-neutral value (see herald.ExportRows).
type columnKind int

const (
	textColumn  columnKind = iota // TEXT: string
	intColumn                     // INTEGER: int64
	boolColumn                    // INTEGER 0 or 1: bool
	timeColumn                    // INTEGER Unix nanoseconds, 0 for not set: time.Time
	namesColumn                   // JSON TEXT array of strings: []string
	jsonColumn                    // JSON TEXT: json.RawMessage
	blobColumn                    // BLOB: []byte
)

// exportColumn is one exported column. expr, when set, is the SQL that
// reads it instead of its name.
type exportColumn struct {
	name string
	kind columnKind
	expr string
}

// col returns the column name of kind, read as it is stored.
func col(name string, kind columnKind) exportColumn { return exportColumn{name: name, kind: kind} }

// exportTable is one table of user data and how to read it.
type exportTable struct {
	name    string
	columns []exportColumn
}

// leased is the condition of a delivery held by a sender's lease
// (herald.StatusSending).
var leased = fmt.Sprintf("status = %d", herald.StatusSending)

// exportTables are the tables of user data, parents before children, with
// every column. A column added by a migration must be added here (or the
// export refuses to run, see checkColumns); a table added by a migration
// goes here or in notExported (TestExportClassifiesEveryTable).
var exportTables = []exportTable{
	{"applications", []exportColumn{col("id", textColumn), col("uid", textColumn), col("name", textColumn),
		col("throttle_rate", intColumn), col("metadata", jsonColumn),
		col("created_at", timeColumn), col("updated_at", timeColumn)}},
	{"endpoints", []exportColumn{col("id", textColumn), col("app_id", textColumn), col("uid", textColumn),
		col("url", textColumn), col("description", textColumn), col("event_types", namesColumn),
		col("channels", namesColumn), col("disabled", boolColumn), col("throttle_rate", intColumn),
		col("metadata", jsonColumn), col("headers", jsonColumn), col("secrets", jsonColumn),
		col("created_at", timeColumn), col("updated_at", timeColumn)}},
	{"event_types", []exportColumn{col("name", textColumn), col("description", textColumn),
		col("archived", boolColumn), col("deprecated", boolColumn), col("feature_flag", textColumn),
		col("schemas", jsonColumn), col("created_at", timeColumn), col("updated_at", timeColumn)}},
	{"messages", []exportColumn{col("id", textColumn), col("app_id", textColumn), col("event_id", textColumn),
		col("event_type", textColumn), col("channels", namesColumn), col("payload", blobColumn),
		col("payload_retention_days", intColumn), col("created_at", timeColumn),
		col("deliver_at", timeColumn), col("payload_expires_at", timeColumn),
		{"seq", intColumn, "0"}}}, // see pollConsumerExport
	// A leased delivery's holder is gone: it goes out pending, due at the
	// export (@now), as the store's own lease rescue would leave it.
	{"deliveries", []exportColumn{col("id", textColumn), col("app_id", textColumn), col("msg_id", textColumn),
		col("endpoint_id", textColumn),
		{"status", intColumn, fmt.Sprintf("CASE WHEN %s THEN %d ELSE status END", leased, herald.StatusPending)},
		col("attempts", intColumn),
		{"next_attempt_at", timeColumn, "CASE WHEN " + leased + " THEN @now ELSE next_attempt_at END"},
		{"lease_until", timeColumn, "CASE WHEN " + leased + " THEN 0 ELSE lease_until END"},
		col("trigger_type", intColumn), col("created_at", timeColumn),
		{"updated_at", timeColumn, "CASE WHEN " + leased + " THEN @now ELSE updated_at END"}}},
	{"attempts", []exportColumn{col("id", textColumn), col("delivery_id", textColumn), col("app_id", textColumn),
		col("msg_id", textColumn), col("endpoint_id", textColumn), col("url", textColumn),
		col("status", intColumn), col("response_status_code", intColumn), col("response", textColumn),
		col("response_duration_ms", intColumn), col("trigger_type", intColumn), col("created_at", timeColumn)}},
	{"poll_consumers", []exportColumn{col("endpoint_id", textColumn), col("consumer_id", textColumn),
		col("app_id", textColumn), {"seq", intColumn, "0"}, {"msg_id", textColumn, pollConsumerExport},
		col("updated_at", timeColumn)}},
	{"tokens", []exportColumn{col("id", textColumn), col("hash", textColumn), col("app_id", textColumn),
		col("name", textColumn), col("prefix", textColumn), col("read_only", boolColumn), col("expires_at", timeColumn), col("created_at", timeColumn)}},
	{"idempotency", []exportColumn{col("key", textColumn), col("status_code", intColumn), col("body", blobColumn),
		col("expires_at", timeColumn)}},
	{"endpoint_health", []exportColumn{col("endpoint_id", textColumn), col("app_id", textColumn),
		col("first_failure_at", timeColumn), col("last_failure_at", timeColumn), col("last_success_at", timeColumn),
		col("consecutive_failures", intColumn), col("disabled_at", timeColumn), col("disabled_reason", textColumn)}},
	{"tasks", []exportColumn{col("id", textColumn), col("app_id", textColumn), col("kind", textColumn),
		col("status", textColumn), col("params", jsonColumn), col("cursor", textColumn), col("scanned", intColumn),
		col("queued", intColumn), col("skipped", intColumn), col("error", textColumn), col("created_at", timeColumn), col("updated_at", timeColumn)}},
	// The encryption key check goes with the secrets, copied encrypted.
	{"settings", []exportColumn{col("name", textColumn), col("value", textColumn)}},
}

// pollConsumerExport is a consumer's position as exported. Positions
// (seq, id) are in the order this store committed messages, which another
// store cannot repeat: messages go out with seq 0 (ordered by ID, as the
// target store orders the messages it did not write), and a consumer at
// (0, an ID just before the first message it has not read), or after the
// application's last message when it has read them all. It may read again
// some messages it read; it misses none.
const pollConsumerExport = `coalesce(
	(SELECT substr(min(m.id), 1, length(min(m.id)) - 1) FROM messages m
		WHERE m.app_id = poll_consumers.app_id AND (m.seq, m.id) > (poll_consumers.seq, poll_consumers.msg_id)),
	(SELECT max(m.id) FROM messages m WHERE m.app_id = poll_consumers.app_id),
	msg_id)`

// notExported are the tables that hold no user data, and why.
var notExported = map[string]string{
	"schema_migrations": "the schema's own history; the target store has its own",
	"leaders":           "leader terms of running processes",
}

// names returns the table's column names.
func (t exportTable) names() []string {
	out := make([]string, len(t.columns))
	for i, c := range t.columns {
		out[i] = c.name
	}
	return out
}

// query returns the SELECT that reads the table's rows.
func (t exportTable) query() string {
	sel := make([]string, len(t.columns))
	for i, c := range t.columns {
		sel[i] = c.name
		if c.expr != "" {
			sel[i] = c.expr
		}
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + t.name
}

// Export implements herald.Exporter. It reads every table in one read
// transaction (one snapshot of the database file) and streams each table's
// rows, so that memory does not grow with the database. It refuses to run
// when a table has a column that it does not know, so that no data is left
// behind unnoticed.
func (s *Store) Export(ctx context.Context, fn func(ctx context.Context, t herald.ExportTable) error) error {
	if s.w.isClosed() {
		return errClosed
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("export: %w", mapErr(err))
	}
	defer tx.Rollback()
	now := sql.Named("now", ts(time.Now()))
	for _, t := range exportTables {
		if err := checkColumns(ctx, tx, t); err != nil {
			return fmt.Errorf("export %s: %w", t.name, err)
		}
		if err := exportOne(ctx, tx, t, now, fn); err != nil {
			return err
		}
	}
	return nil
}

// exportOne streams one table to fn.
func exportOne(ctx context.Context, tx *sql.Tx, t exportTable, now sql.NamedArg,
	fn func(ctx context.Context, t herald.ExportTable) error) error {
	rows, err := tx.QueryContext(ctx, t.query(), now)
	if err != nil {
		return fmt.Errorf("export %s: %w", t.name, mapErr(err))
	}
	defer rows.Close()
	r := &exportRows{table: t, rows: rows}
	if err := fn(ctx, herald.ExportTable{Name: t.name, Columns: t.names(), Rows: r}); err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	return nil
}

// checkColumns reports an error unless the table's columns are exactly
// those the export knows.
func checkColumns(ctx context.Context, q querier, t exportTable) error {
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", t.name)
	if err != nil {
		return err
	}
	have, err := collect(rows, func(sc scanner) (string, error) {
		var name string
		return name, sc.Scan(&name)
	})
	if err != nil {
		return err
	}
	want := t.names()
	for _, name := range have {
		if !slices.Contains(want, name) {
			return fmt.Errorf("column %s is not known to the export: add it to sqlite.exportTables", name)
		}
	}
	for _, name := range want {
		if !slices.Contains(have, name) {
			return fmt.Errorf("column %s is missing", name)
		}
	}
	return nil
}

// TableCounts returns the number of rows of each named table, which must
// be one that Export exports.
func (s *Store) TableCounts(ctx context.Context, tables []string) ([]herald.TableCount, error) {
	out := make([]herald.TableCount, 0, len(tables))
	err := s.read(ctx, "count rows", func(q querier) error {
		for _, name := range tables {
			if !slices.ContainsFunc(exportTables, func(t exportTable) bool { return t.name == name }) {
				return fmt.Errorf("table %q is not exported", name)
			}
			var n int64
			if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&n); err != nil {
				return err
			}
			out = append(out, herald.TableCount{Table: name, Rows: n})
		}
		return nil
	})
	return out, err
}
