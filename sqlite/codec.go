package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// errClosed is returned by every call made after Close.
var errClosed = herald.Errorf(herald.EUnavailable, "Service is shutting down")

// Storage faults, shown to API clients as 503 with Retry-After: nothing
// was written, and the same request will do once the fault is gone.
var (
	errBusy     = herald.Errorf(herald.EUnavailable, "Database is busy")
	errFull     = herald.Errorf(herald.EUnavailable, "Storage is full; nothing was written")
	errReadOnly = herald.Errorf(herald.EUnavailable, "Storage is read-only; nothing was written")
	errIO       = herald.Errorf(herald.EUnavailable, "Storage failed; nothing was written")
)

// faultErrs maps SQLite primary result codes to the domain errors they
// stand for. SQLITE_FULL is a full disk (or file size limit), SQLITE_IOERR
// and its extended codes (IOERR_WRITE, IOERR_FSYNC, IOERR_SHMSIZE, ...) a
// failed read, write or sync, such as ENOSPC or EROFS where SQLite does not
// name them FULL or READONLY; SQLITE_READONLY a file or file system that
// cannot be written; SQLITE_CANTOPEN a journal or temporary file that
// cannot be created.
var faultErrs = map[int]*herald.Error{
	sqlite3.SQLITE_BUSY:     errBusy,
	sqlite3.SQLITE_LOCKED:   errBusy,
	sqlite3.SQLITE_FULL:     errFull,
	sqlite3.SQLITE_IOERR:    errIO,
	sqlite3.SQLITE_READONLY: errReadOnly,
	sqlite3.SQLITE_CANTOPEN: errIO,
}

// mapErr turns driver errors that callers can act on into domain errors,
// by SQLite result code (never by message text): busy and locked
// databases and storage faults (see faultErrs) are EUnavailable.
// Constraint errors are mapped where the operation knows what they mean
// (see isUnique, isForeignKey).
func mapErr(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && herald.ErrorCode(err) == herald.EInternal {
		if de, ok := faultErrs[e.Code()&0xff]; ok {
			return fmt.Errorf("%w: %w", de, err)
		}
	}
	return err
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// Common not-found errors, with messages shown to API clients.
var (
	errAppNotFound       = herald.Errorf(herald.ENotFound, "Application not found")
	errEndpointNotFound  = herald.Errorf(herald.ENotFound, "Endpoint not found")
	errMessageNotFound   = herald.Errorf(herald.ENotFound, "Message not found")
	errEventTypeNotFound = herald.Errorf(herald.ENotFound, "Event type not found")
	errAttemptNotFound   = herald.Errorf(herald.ENotFound, "Message attempt not found")
)

// ts encodes t as Unix nanoseconds; the zero time is 0.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromTS decodes a time written by ts.
func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// sinceTS encodes the inclusive lower bound of a time range; the zero time
// means no bound.
func sinceTS(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// untilTS encodes the exclusive upper bound of a time range; the zero time
// means no bound.
func untilTS(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// tsPtr encodes an optional time as a nullable integer.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// fromTSPtr decodes a time written by tsPtr.
func fromTSPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromTS(n.Int64)
	return &t
}

// nullStr stores "" as NULL, for optional unique aliases.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// intPtr stores a nil *int as NULL.
func intPtr(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// fromIntPtr decodes a value written by intPtr.
func fromIntPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

// jsonText encodes v as JSON TEXT, or NULL when v encodes to null (a nil
// slice or map).
func jsonText(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

// fromJSON decodes a column written by jsonText into dst; NULL leaves dst
// unchanged.
func fromJSON(s sql.NullString, dst any) error {
	if !s.Valid {
		return nil
	}
	if err := json.Unmarshal([]byte(s.String), dst); err != nil {
		return fmt.Errorf("decode json column: %w", err)
	}
	return nil
}

// boolInt stores a bool as 0 or 1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
