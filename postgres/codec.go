package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// errClosed is returned by every call made after Close.
var errClosed = herald.Errorf(herald.EUnavailable, "Service is shutting down")

// errUnavailable is the domain error wrapped around driver errors that mean
// the database cannot be reached or cannot take the request now.
var errUnavailable = herald.Errorf(herald.EUnavailable, "Database is unavailable")

// SQLSTATE codes the store acts on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeSerializationFail   = "40001"
	codeDeadlockDetected    = "40P01"
	codeLockNotAvailable    = "55P03"
	codeAdminShutdown       = "57P01"
	codeCrashShutdown       = "57P02"
	codeCannotConnectNow    = "57P03"
	codeReadOnlyTransaction = "25006"
)

// pgCode returns the SQLSTATE of err, or "" when it is not a server error.
func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool { return pgCode(err) == codeUniqueViolation }

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool { return pgCode(err) == codeForeignKeyViolation }

// isRetryable reports whether err aborted a transaction that may succeed
// when run again from the start: a deadlock or serialization failure.
func isRetryable(err error) bool {
	switch pgCode(err) {
	case codeSerializationFail, codeDeadlockDetected, codeLockNotAvailable:
		return true
	}
	return false
}

// isUnavailable reports whether err means that the database cannot be
// reached or cannot take requests now, judged by error type and SQLSTATE
// (class 08 connection exceptions, 53 insufficient resources, shutdowns, a
// standby's read-only transactions), never by message text.
func isUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if code := pgCode(err); code != "" {
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
			return true
		case code == codeAdminShutdown, code == codeCrashShutdown, code == codeCannotConnectNow,
			code == codeReadOnlyTransaction:
			return true
		}
		return isRetryable(err)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// mapErr turns driver errors that callers can act on into domain errors:
// an unreachable or overloaded database is EUnavailable (wrapping the
// driver error for the log). Constraint errors are mapped where the
// operation knows what they mean (see isUnique, isForeignKey). Domain
// errors pass through.
func mapErr(err error) error {
	if err == nil || herald.ErrorCode(err) != herald.EInternal {
		return err
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return err
}

// Common not-found errors, with messages shown to API clients.
var (
	errAppNotFound       = herald.Errorf(herald.ENotFound, "Application not found")
	errEndpointNotFound  = herald.Errorf(herald.ENotFound, "Endpoint not found")
	errMessageNotFound   = herald.Errorf(herald.ENotFound, "Message not found")
	errEventTypeNotFound = herald.Errorf(herald.ENotFound, "Event type not found")
	errAttemptNotFound   = herald.Errorf(herald.ENotFound, "Message attempt not found")
)

// Delivery statuses as SQL literals. Queries that must use the partial
// indexes on deliveries (WHERE status = 1) write the status as a literal,
// not a parameter, so that the planner can match the index predicate in
// every plan, generic ones included.
const (
	sqlPending = "1" // herald.StatusPending
	sqlSending = "3" // herald.StatusSending
)

// tsOrNull encodes an optional time held as a zero-able time.Time: the
// zero time is NULL.
func tsOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// tsPtr encodes an optional time as a nullable timestamptz.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// fromTS decodes a timestamptz into UTC, like the SQLite store.
func fromTS(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// fromTSPtr decodes a nullable timestamptz.
func fromTSPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// fromNullTS decodes a nullable timestamptz into a time.Time that is zero
// for NULL.
func fromNullTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// sinceTS encodes the inclusive lower bound of a time range; the zero time
// means no bound (-infinity).
func sinceTS(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// untilTS encodes the exclusive upper bound of a time range; the zero time
// means no bound (infinity).
func untilTS(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// nullStr stores "" as NULL, for optional unique aliases.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// fromNullStr decodes a column written by nullStr.
func fromNullStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// intPtr stores a nil *int as NULL.
func intPtr(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// fromIntPtr decodes a value written by intPtr.
func fromIntPtr(n *int64) *int {
	if n == nil {
		return nil
	}
	v := int(*n)
	return &v
}

// textArray stores a list as text[], NULL for a nil list.
func textArray(list []string) any {
	if list == nil {
		return nil
	}
	return list
}

// jsonArg encodes v as JSON text for a jsonb parameter, or NULL when v
// encodes to null (a nil slice or map).
func jsonArg(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

// fromJSON decodes a jsonb column into dst; NULL leaves dst unchanged.
func fromJSON(b []byte, dst any) error {
	if b == nil {
		return nil
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("decode json column: %w", err)
	}
	return nil
}

// bytesArg stores a byte slice as bytea, NULL for nil. (A json.RawMessage is
// passed as plain bytes so that the driver does not treat it as JSON.)
func bytesArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// args collects the parameters of a query built piece by piece: add
// appends a value and returns its placeholder ($1, $2, ...).
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// pgText returns s as PostgreSQL text can hold it: each NUL byte and
// invalid UTF-8 sequence replaced by U+FFFD. A receiver's response body,
// say, may hold either, and one such attempt must not fail the batch of
// results it is written with.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
