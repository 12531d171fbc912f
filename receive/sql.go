package receive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL flavour of a SQLStore's database.
type Dialect int

// The supported dialects.
const (
	// SQLite, e.g. modernc.org/sqlite (driver "sqlite"). Open the file
	// with a busy timeout (DSN "file.db?_pragma=busy_timeout(5000)") so
	// that several connections or processes wait for each other's writes.
	SQLite Dialect = iota + 1
	// Postgres, e.g. the pgx stdlib driver ("pgx").
	Postgres
)

// DefaultTable is the default table of a SQLStore.
const DefaultTable = "herald_receive_events"

// SQLConfig configures a SQLStore.
type SQLConfig struct {
	// Dialect of the database (required): SQLite or Postgres. It decides
	// the placeholders ("?" or "$1") and the body column's type.
	Dialect Dialect
	// Table is the table's name, letters, digits and underscores; on
	// PostgreSQL it may be schema-qualified ("receiver.events").
	// Default DefaultTable.
	Table string
	// Retention is how long a processed (or failed) event is kept, so that
	// repeats are recognised; Cleanup deletes older ones. Default 7 days.
	Retention time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// SQLStore is a Queue in a SQL database through database/sql, on SQLite or
// PostgreSQL. Several processes sharing the database share the store: a
// claim is one atomic INSERT ... ON CONFLICT DO UPDATE ... WHERE (the update
// only takes over an expired lease), so one claimant at most wins. Queued
// events keep their bodies until processed, so they survive restarts.
// Create the table with Migrate.
type SQLStore struct {
	db    *sql.DB
	cfg   SQLConfig
	table string // quoted-safe name
	index string // base name for indexes
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// NewSQLStore returns a store on db. It does not touch the database; call
// Migrate once before use.
func NewSQLStore(db *sql.DB, cfg SQLConfig) (*SQLStore, error) {
	if cfg.Dialect != SQLite && cfg.Dialect != Postgres {
		return nil, errors.New("receive: SQLConfig.Dialect must be SQLite or Postgres")
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if !tableName.MatchString(cfg.Table) || (cfg.Dialect == SQLite && strings.Contains(cfg.Table, ".")) {
		return nil, fmt.Errorf("receive: invalid table name %q", cfg.Table)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := cfg.Table[strings.LastIndex(cfg.Table, ".")+1:]
	return &SQLStore{db: db, cfg: cfg, table: cfg.Table, index: base}, nil
}

// Migrate creates the table and its indexes if they do not exist. It is
// idempotent, and on PostgreSQL safe to run from several processes at once
// (it holds an advisory lock).
func (s *SQLStore) Migrate(ctx context.Context) error {
	body := "BLOB"
	if s.cfg.Dialect == Postgres {
		body = "BYTEA"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	id          TEXT PRIMARY KEY,
	state       TEXT NOT NULL,
	token       TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	is_async    INTEGER NOT NULL DEFAULT 0,
	body        ` + body + `,
	header      TEXT,
	attempts    INTEGER NOT NULL DEFAULT 0,
	run_at      BIGINT NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	finished_at BIGINT NOT NULL DEFAULT 0
)`,
		`CREATE INDEX IF NOT EXISTS ` + s.index + `_pending ON ` + s.table + ` (run_at) WHERE is_async = 1 AND state IN ('queued', 'running')`,
		`CREATE INDEX IF NOT EXISTS ` + s.index + `_finished ON ` + s.table + ` (finished_at) WHERE state IN ('done', 'failed')`,
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("receive: migrate: %w", err)
	}
	defer tx.Rollback()
	if s.cfg.Dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "herald_receive:"+s.table); err != nil {
			return fmt.Errorf("receive: migrate: lock: %w", err)
		}
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("receive: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("receive: migrate: %w", err)
	}
	return nil
}

// Claim implements Store. A finished record past its retention that
// Cleanup has not deleted yet counts as absent.
func (s *SQLStore) Claim(ctx context.Context, id, token string, leaseUntil time.Time) (ClaimResult, error) {
	now := s.cfg.Now()
	q := s.query(`INSERT INTO {t} AS r (id, state, token, lease_until) VALUES (?, 'running', ?, ?)
ON CONFLICT (id) DO UPDATE SET state = 'running', token = excluded.token, lease_until = excluded.lease_until,
	is_async = 0, body = NULL, header = NULL, attempts = 0, last_error = '', finished_at = 0
WHERE (r.state = 'running' AND r.is_async = 0 AND r.lease_until <= ?)
	OR (r.state IN ('done', 'failed') AND r.finished_at <= ?)`)
	for range 3 {
		res, err := s.db.ExecContext(ctx, q, id, token, leaseUntil.UnixMilli(), now.UnixMilli(), s.expiredBefore(now))
		if err != nil {
			return 0, fmt.Errorf("receive: claim: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("receive: claim: %w", err)
		} else if n == 1 {
			return Claimed, nil
		}
		var state string
		err = s.db.QueryRowContext(ctx, s.query(`SELECT state FROM {t} WHERE id = ?`), id).Scan(&state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // released meanwhile: try again
		case err != nil:
			return 0, fmt.Errorf("receive: claim: %w", err)
		case state == stateDone || state == stateFailed:
			return Completed, nil
		}
		return InProgress, nil
	}
	return InProgress, nil
}

// Complete implements Store.
func (s *SQLStore) Complete(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.query(`INSERT INTO {t} AS r (id, state, finished_at) VALUES (?, 'done', ?)
ON CONFLICT (id) DO UPDATE SET state = 'done', finished_at = excluded.finished_at, token = '', lease_until = 0, body = NULL, header = NULL
WHERE r.state NOT IN ('done', 'failed')`), id, s.cfg.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("receive: complete: %w", err)
	}
	return nil
}

// Release implements Store.
func (s *SQLStore) Release(ctx context.Context, id, token string) error {
	_, err := s.db.ExecContext(ctx, s.query(`DELETE FROM {t} WHERE id = ? AND token = ? AND state = 'running' AND is_async = 0`), id, token)
	if err != nil {
		return fmt.Errorf("receive: release: %w", err)
	}
	return nil
}

// Cleanup deletes the processed and failed events older than the
// retention and returns how many. A started Receiver calls it every
// Config.CleanupInterval; call it yourself otherwise.
func (s *SQLStore) Cleanup(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.query(`DELETE FROM {t} WHERE state IN ('done', 'failed') AND finished_at <= ?`), s.expiredBefore(s.cfg.Now()))
	if err != nil {
		return 0, fmt.Errorf("receive: cleanup: %w", err)
	}
	return res.RowsAffected()
}

// expiredBefore returns the finished_at at or before which a record has
// expired.
func (s *SQLStore) expiredBefore(now time.Time) int64 {
	return now.Add(-s.cfg.Retention).UnixMilli()
}

// query puts the table name in q and, on PostgreSQL, numbers its "?"
// placeholders ($1, $2, ...).
func (s *SQLStore) query(q string) string {
	q = strings.ReplaceAll(q, "{t}", s.table)
	if s.cfg.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
