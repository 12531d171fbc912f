package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Config's zero values.
const (
	DefaultMaxConns       = 16
	DefaultWriters        = 2
	DefaultMaxBatch       = 256
	DefaultConnectTimeout = 5 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
)

// Config configures the store. Zero values take the documented defaults.
type Config struct {
	// URL is the PostgreSQL connection string, as a URL
	// ("postgres://user:pass@host:5432/db?sslmode=disable") or in
	// key=value form. Required.
	URL string
	// Schema, if set, is the schema that holds Herald's tables: it is
	// created if missing and is the search_path of every connection, so
	// that several Herald installations (or tests) can share a database.
	// Default: "" (the connection's own search_path, usually public).
	Schema string
	// MaxConns is the most connections in the pool, writers and readers
	// together (the notification listener has one more of its own).
	// Default: 16.
	MaxConns int
	// Writers is the number of goroutines that commit queued writes,
	// each in its own transactions on its own connection, at most half of
	// MaxConns (at least 1). Default: 2. A pipelined batch costs one round
	// trip, so few writers keep up; fewer, larger batches cost the database
	// less CPU per write (on a 2-core machine running the throughput bench:
	// 0.32 s per 1,000 messages with 1 writer, 0.33 with 2, 0.40 with 4).
	Writers int
	// MaxBatch is the most write operations merged into one transaction.
	// Default: 256.
	MaxBatch int
	// ConnectTimeout bounds each attempt to open a connection, unless the
	// URL sets connect_timeout. Default: 5s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write transaction (a batch of operations).
	// Default: 30s.
	WriteTimeout time.Duration
	// Logger receives the store's log lines. Default: discard.
	Logger *slog.Logger
	// Observer is told about each write batch (group commit): its size and
	// duration. Default: none.
	Observer herald.StoreObserver
	// Cipher, when set, encrypts endpoint secrets at rest: they are
	// encrypted as they are written and decrypted as they are read.
	// Default: none (secrets are stored as they are).
	Cipher herald.SecretCipher
	// SkipKeyCheck opens the database without comparing Cipher with the
	// key check value it stores (see herald.CheckKey): for copying into it
	// (migrate-store) and for re-encrypting secrets a lost key left
	// unreadable. Default: the check runs, and Open fails on a wrong key
	// or on a database with encrypted secrets and no Cipher.
	SkipKeyCheck bool
}

// withDefaults returns cfg with its zero values replaced by the defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Writers <= 0 {
		cfg.Writers = DefaultWriters
	}
	cfg.Writers = min(cfg.Writers, max(1, cfg.MaxConns/2)) // leave connections for reads and claims
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	return cfg
}

// Store is the PostgreSQL implementation of herald.Store. Writes go
// through writer goroutines that commit them in groups; reads and claims
// use the pool directly.
type Store struct {
	cfg     Config
	pool    *pgxpool.Pool
	channel string
	w       *writer
	lis     *listener
	notify  chan struct{}
	closed  atomic.Bool
	hints   fanOutHints
	held    heldEndpoints // endpoints shared claims leave alone for now
	codec   herald.SecretCodec

	closeOnce sync.Once
	closeErr  error
}

var _ herald.Store = (*Store)(nil)

// Open connects to the database, applies the embedded migrations that are
// not applied yet (several nodes may do so at once), starts listening for
// delivery notifications and starts the writers. An unreachable database
// is reported as EUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("open postgres store: URL is required")
	}
	cfg = cfg.withDefaults()
	poolCfg, err := poolConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", mapErr(err))
	}
	if err := migrate(ctx, pool, cfg.Schema, cfg.Logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", mapErr(err))
	}
	s := &Store{
		cfg:     cfg,
		pool:    pool,
		channel: notifyChannel(cfg.Schema),
		notify:  make(chan struct{}, 1),
		codec:   herald.SecretCodec{Cipher: cfg.Cipher},
	}
	s.lis, err = startListener(ctx, poolCfg.ConnConfig, s.channel, s.signal, cfg.Logger, listenKeepalive)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: listen for notifications: %w", mapErr(err))
	}
	s.w = newWriter(s)
	if !cfg.SkipKeyCheck {
		if err := s.checkKey(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
	}
	cfg.Logger.Debug("postgres store opened", "schema", cfg.Schema)
	return s, nil
}

// poolConfig parses cfg.URL and applies the store's settings.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, err
	}
	poolCfg.MaxConns = int32(cfg.MaxConns)
	cc := poolCfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = cfg.ConnectTimeout
	}
	if cfg.Schema != "" {
		cc.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "herald"
	}
	return poolCfg, nil
}

// DeliveryNotify implements herald.DeliveryStore. The channel receives a
// value after this store commits a write that makes deliveries due, and
// whenever another store on the same database and schema does (through
// LISTEN/NOTIFY), and once after the listening connection is restored.
func (s *Store) DeliveryNotify() <-chan struct{} { return s.notify }

// signal wakes a DeliveryNotify listener without blocking.
func (s *Store) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Ping implements herald.Store: it runs a query on a pooled connection.
func (s *Store) Ping(ctx context.Context) error {
	return s.read(ctx, "ping", func(q querier) error {
		var one int
		return q.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
}

// Close runs the queued writes, stops the writers and the listener and
// closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		err := s.w.close()
		s.lis.stop()
		s.pool.Close()
		if err != nil {
			s.closeErr = fmt.Errorf("close postgres store: %w", err)
		}
	})
	return s.closeErr
}

// Fan-out hints: how many delivery IDs MessageCreate makes before it
// knows how many endpoints a message goes to.
const (
	// minFanOutHint is the fewest IDs made.
	minFanOutHint = 4
	// maxFanOutHints bounds the applications remembered; the map starts
	// afresh when full.
	maxFanOutHints = 10000
)

// fanOutHints remembers, per application, about how many endpoints its
// recent messages went to. It is only a guess at a size: a message that
// needs more IDs runs again with as many as it needs, so a hint that
// another node made stale costs a round, never a wrong fan-out.
type fanOutHints struct {
	mu sync.Mutex
	m  map[string]int
}

// fanOutHint returns how many delivery IDs to make for a message of appID.
func (s *Store) fanOutHint(appID string) int {
	h := &s.hints
	h.mu.Lock()
	n := h.m[appID]
	h.mu.Unlock()
	return max(n, minFanOutHint)
}

// setFanOutHint records that a message of appID went to need endpoints.
// The hint follows a larger fan-out at once and a smaller one slowly, so
// that applications whose event types fan out differently seldom run a
// message twice.
func (s *Store) setFanOutHint(appID string, need int) {
	h := &s.hints
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.m[appID]
	n := max(need, old-old/4)
	if ok && n == old {
		return
	}
	if h.m == nil || len(h.m) >= maxFanOutHints {
		h.m = make(map[string]int)
	}
	h.m[appID] = n
}
