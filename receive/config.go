package receive

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// Defaults of Config and AsyncConfig.
const (
	DefaultMaxBody         = 1 << 20 // 1 MiB
	DefaultLease           = 5 * time.Minute
	DefaultInProgressRetry = 5 * time.Second
	DefaultMaxAttempts     = 10
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = time.Hour
	DefaultWorkers         = 4
	DefaultPollInterval    = time.Second
	DefaultCleanupInterval = time.Hour
)

// Config configures a Receiver. Verifier and Handler are required; every
// other field's zero value means its documented default.
type Config struct {
	// Verifier checks each request's signature (required), e.g.
	// signing.NewStandardVerifier(secret).
	Verifier signing.Verifier
	// Handler processes verified events (required).
	Handler HandlerFunc
	// Store deduplicates events by id. Default: a NewMemoryStore with its
	// defaults (per process, lost on restart). Use a SQLStore to share it
	// between instances and keep it across restarts. With Async it must
	// be a Queue (both stores of this package are). An event whose scheme
	// carries no id (the Verifier returns "") is not deduplicated.
	Store Store
	// MaxBody is the largest body accepted, in bytes; larger requests get
	// 413. Default DefaultMaxBody (1 MiB).
	MaxBody int64
	// Lease is how long a claimed event stays reserved to the run that
	// claimed it; a claim left by a crashed process is taken over after
	// it. The handler's context ends with the lease, so it should be
	// longer than the slowest handler run. Default DefaultLease (5 min).
	Lease time.Duration
	// InProgressRetry is the Retry-After sent with 409 when the same
	// event is being processed by another request. Default 5s.
	InProgressRetry time.Duration
	// Async, when set, makes the receiver answer 202 as soon as the event
	// is durably queued in Store and run Handler in the background with
	// retries, between Start and Stop.
	Async *AsyncConfig
	// CleanupInterval is how often a started Receiver asks a Store that
	// is a Cleaner to delete its expired records. Default 1h.
	CleanupInterval time.Duration
	// Logger gets failures (handler errors, panics, store errors; never
	// secrets or bodies). Default: nothing is logged.
	Logger *slog.Logger
}

// AsyncConfig configures background processing (Config.Async).
type AsyncConfig struct {
	// MaxAttempts is how many times a failing event is run before it is
	// marked failed for good. Default DefaultMaxAttempts (10).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait before a retry: MinBackoff
	// doubled for each failed attempt, at most MaxBackoff. Defaults 1s
	// and 1h.
	MinBackoff, MaxBackoff time.Duration
	// Workers is how many events run at once. Default 4.
	Workers int
	// PollInterval is how often the queue is checked for due events
	// (new requests and finished retries also wake the workers).
	// Default 1s.
	PollInterval time.Duration
}

// Cleaner is a Store that deletes its expired records when asked
// (SQLStore); a started Receiver calls it every CleanupInterval.
type Cleaner interface {
	Cleanup(ctx context.Context) (int64, error)
}

// withDefaults returns c with defaults filled in, or an error if it is
// unusable.
func (c Config) withDefaults() (Config, error) {
	if c.Verifier == nil || c.Handler == nil {
		return c, errors.New("receive: Config.Verifier and Config.Handler are required")
	}
	if c.Store == nil {
		c.Store = NewMemoryStore(MemoryConfig{})
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.InProgressRetry <= 0 {
		c.InProgressRetry = DefaultInProgressRetry
	}
	if c.CleanupInterval <= 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Async != nil {
		if _, ok := c.Store.(Queue); !ok {
			return c, errors.New("receive: Config.Async needs a Store that implements Queue")
		}
		a := c.Async.withDefaults()
		c.Async = &a
	}
	return c, nil
}

func (a AsyncConfig) withDefaults() AsyncConfig {
	if a.MaxAttempts <= 0 {
		a.MaxAttempts = DefaultMaxAttempts
	}
	if a.MinBackoff <= 0 {
		a.MinBackoff = DefaultMinBackoff
	}
	if a.MaxBackoff <= 0 {
		a.MaxBackoff = DefaultMaxBackoff
	}
	if a.MaxBackoff < a.MinBackoff {
		a.MaxBackoff = a.MinBackoff
	}
	if a.Workers <= 0 {
		a.Workers = DefaultWorkers
	}
	if a.PollInterval <= 0 {
		a.PollInterval = DefaultPollInterval
	}
	return a
}

// backoff returns the wait after the attempt-th failed attempt.
func (a AsyncConfig) backoff(attempt int) time.Duration {
	d := a.MinBackoff
	for i := 1; i < attempt && d < a.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, a.MaxBackoff)
}
