package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/herald-webhooks/herald"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults of Config's zero values.
const (
	DefaultMaxBatch = 1024
	DefaultReaders  = 4
	// busyTimeoutMs is how long a connection waits for a lock held by
	// another connection (a checkpoint, another process) before failing.
	busyTimeoutMs = 5000
)

// Config configures the store. Zero values take the documented defaults.
type Config struct {
	// Path is the database file path, such as
	// filepath.Join(dataDir, "herald.db"). Required.
	Path string
	// Logger receives the store's log lines. Default: discard.
	Logger *slog.Logger
	// Observer is told about each write batch (group commit): its size and
	// duration. Default: none.
	Observer herald.StoreObserver
	// MaxBatch is the most write operations merged into one commit.
	// Default: 1024.
	MaxBatch int
	// Readers is the number of read connections. Default: 4.
	Readers int
	// ClaimOnCreate lets MessageCreate write fresh deliveries already
	// claimed and hand them to DeliveryClaim in memory, while the queue has
	// nothing due and a delivery engine in this process is claiming. Only
	// for a database that no other process delivers from, with an engine
	// that rescues every lease when it starts (delivery.Config's
	// RescueOnStart). Default: off.
	ClaimOnCreate bool
	// Cipher, when set, encrypts endpoint secrets at rest: they are
	// encrypted as they are written and decrypted as they are read.
	// Default: none (secrets are stored as they are).
	Cipher herald.SecretCipher
	// SkipKeyCheck opens the database without comparing Cipher with the
	// key check value it stores (see herald.CheckKey): for copying it as
	// it is (migrate-store) and for re-encrypting secrets a lost key left
	// unreadable. Default: the check runs, and Open fails on a wrong key
	// or on a database with encrypted secrets and no Cipher.
	SkipKeyCheck bool
}

// Store is the embedded SQLite implementation of herald.Store. Writes go
// through one writer goroutine that commits them in groups; reads use a
// separate pool of read-only connections.
type Store struct {
	logger  *slog.Logger
	path    string
	wdb     *sql.DB // the one write connection
	rdb     *sql.DB // read-only connections
	reader  *reader
	apps    *appCache
	due     *dueIndex
	handoff *handoff
	codec   herald.SecretCodec
	w       *writer
	notify  chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ herald.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path, applies the
// embedded migrations that are not applied yet and starts the writer.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("open sqlite store: Path is required")
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("open sqlite store: path %q must not contain '?' or '#'", cfg.Path)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Readers <= 0 {
		cfg.Readers = DefaultReaders
	}
	wdb, err := sql.Open("sqlite", dsn(cfg.Path, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb, cfg.Logger); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	rdb, err := sql.Open("sqlite", dsn(cfg.Path, false))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	rdb.SetMaxOpenConns(cfg.Readers)
	rdb.SetMaxIdleConns(cfg.Readers)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := rdb.PingContext(ctx); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	s := &Store{
		logger: cfg.Logger,
		path:   cfg.Path,
		wdb:    wdb,
		rdb:    rdb,
		reader: newReader(rdb),
		apps:   newAppCache(),
		due:    newDueIndex(),
		notify: make(chan struct{}, 1),
		codec:  herald.SecretCodec{Cipher: cfg.Cipher},
	}
	if s.w, err = newWriter(ctx, wdb, cfg.MaxBatch, cfg.Logger, s.signal); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	s.w.observer = cfg.Observer // read only once operations are sent to the writer
	s.handoff = newHandoff(cfg.ClaimOnCreate, s.due)
	s.w.onDue, s.w.onRollback = s.due.mark, s.due.unknown
	s.w.codec = s.codec
	if !cfg.SkipKeyCheck {
		if err := s.checkKey(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
	}
	cfg.Logger.Debug("sqlite store opened", "path", cfg.Path)
	return s, nil
}

// writerCacheKiB is the write connection's page cache size.
const writerCacheKiB = 32 << 10

// dsn returns the data source name of a write or a read connection.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMs))
	q.Add("_pragma", "foreign_keys(1)")
	if write {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		// Savepoint sub-journals stay in memory instead of a temp file.
		q.Add("_pragma", "temp_store(MEMORY)")
		// The writer touches the queue's and the newest rows' pages on
		// every batch: a larger page cache (it fills only as pages are
		// used) saves re-reading them from the file.
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB))
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

// WriteStats counts the writer's work since Open.
type WriteStats struct {
	// Commits is the number of transactions committed.
	Commits uint64
	// Ops is the number of write operations run, whether they succeeded
	// or were rolled back alone.
	Ops uint64
}

// WriteStats returns the writer's counters, for metrics.
func (s *Store) WriteStats() WriteStats { return s.w.stats() }

// DeliveryNotify implements herald.DeliveryStore.
func (s *Store) DeliveryNotify() <-chan struct{} { return s.notify }

// signal wakes a DeliveryNotify listener without blocking.
func (s *Store) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Ping implements herald.Store: it runs a query on a read connection.
func (s *Store) Ping(ctx context.Context) error {
	if s.w.isClosed() {
		return errClosed
	}
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", mapErr(err))
	}
	return nil
}

// Close flushes queued writes, stops the writer and closes the database.
// It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		err := errors.Join(s.w.close(), s.reader.close(), s.rdb.Close(), s.wdb.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("close sqlite store: %w", err)
		}
	})
	return s.closeErr
}
