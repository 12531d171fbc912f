package delivery

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/egress"
)

// Config configures the engine. Zero values take the documented defaults.
type Config struct {
	// Policy decides when failed deliveries are tried again. Default
	// herald.DefaultRetryPolicy().
	Policy herald.RetryPolicy
	// RequestTimeout bounds each attempt's whole exchange: connecting,
	// sending, the response headers and reading the response body.
	// Default 15s.
	RequestTimeout time.Duration
	// Concurrency is the most deliveries claimed and not yet finished in
	// this process. Default 2048.
	Concurrency int
	// PerEndpoint is the most attempts in flight to one endpoint.
	// Default 32.
	PerEndpoint int
	// ClaimBatch is the most deliveries claimed at once. Default 256.
	ClaimBatch int
	// PollInterval is the longest the producer sleeps without being
	// notified. Default 1s.
	PollInterval time.Duration
	// LeaseExtra is added to the lease of claimed deliveries beyond what
	// their attempts may take. Default 30s.
	LeaseExtra time.Duration
	// Lease is how long a claimed delivery stays reserved to this process:
	// if the process dies, its deliveries go back to the queue once their
	// lease ends (see Maintainer). It must cover the wait before the
	// attempt and the attempt itself. Default: on a shared store,
	// RequestTimeout + herald.ThrottleHorizon + LeaseExtra (46s with the
	// defaults); on a store of one process, where deliveries may also
	// wait for the endpoint's slots, long enough for that too (about 4
	// minutes).
	Lease time.Duration
	// RescueOnStart returns every sending delivery to pending at Start: for
	// a store only this process uses, whose sending rows are orphans of a
	// previous process.
	RescueOnStart bool
	// MaxResponseBytes is how much of a response body is kept on the
	// attempt. Default 4096.
	MaxResponseBytes int
	// UserAgent is sent with every attempt. Default "Herald-Webhooks/1.0".
	UserAgent string
	// HTTPClient makes the attempts. Default: an egress client (SSRF guard
	// on, no redirects) with RequestTimeout, keeping up to Concurrency idle
	// connections per host. A client whose Timeout is unset or longer than
	// RequestTimeout gets a deadline of RequestTimeout on each attempt.
	HTTPClient *http.Client
	// Node names this process in claims on a store that several processes
	// share (herald.ClaimParams.Node). Default: NodeName().
	Node string
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
	// Observer is told about each attempt (for metrics). Default: none.
	Observer herald.DeliveryObserver
	// Tracer makes a span of each attempt. Default: a no-op tracer.
	Tracer trace.Tracer
}

func (c Config) withDefaults() Config {
	if c.Policy.Schedule == nil && c.Policy.Jitter == 0 && c.Policy.MaxRetryAfter == 0 {
		c.Policy = herald.DefaultRetryPolicy()
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2048
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 32
	}
	if c.ClaimBatch <= 0 {
		c.ClaimBatch = 256
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.LeaseExtra <= 0 {
		c.LeaseExtra = 30 * time.Second
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 4096
	}
	if c.UserAgent == "" {
		c.UserAgent = "Herald-Webhooks/1.0"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = egress.NewClient(egress.Config{Timeout: c.RequestTimeout, MaxIdleConnsPerHost: c.Concurrency})
	}
	if c.Node == "" {
		c.Node = NodeName()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Tracer == nil {
		c.Tracer = noTracer
	}
	return c
}

// Engine delivers pending deliveries. Create it with New; it runs between
// Start and Stop.
type Engine struct {
	cfg    Config
	store  herald.DeliveryStore
	log    *slog.Logger
	limits *limits

	shared   bool          // other processes claim from the store too
	idle     idleSet       // endpoints to release, on a shared store
	wake     chan struct{} // wakes the producer when a delivery finishes
	inFlight atomic.Int64  // deliveries claimed and not finished
	// ownDeadline: the HTTP client does not bound an exchange by
	// RequestTimeout, so each attempt gets a deadline of its own.
	ownDeadline bool

	mu        sync.Mutex
	started   bool
	stopped   bool
	stopRun   context.CancelFunc // ends the producer and maintenance
	stopSends context.CancelFunc // aborts attempts in flight
	sendCtx   context.Context
	loops     sync.WaitGroup // producer and maintenance
	sends     sync.WaitGroup // one per claimed delivery
	done      *completer
}

// New returns an engine over store. It does nothing until Start.
func New(cfg Config, store herald.DeliveryStore) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{
		cfg:    cfg,
		store:  store,
		log:    cfg.Logger,
		limits: newLimits(cfg.PerEndpoint, cfg.Concurrency),
		shared: store.DeliveryShared(),
		wake:   make(chan struct{}, 1),

		ownDeadline: cfg.HTTPClient.Timeout <= 0 || cfg.HTTPClient.Timeout > cfg.RequestTimeout,
	}
}

// Start rescues orphaned deliveries if so configured, then starts the
// completer and the producer, and returns. The engine runs
// until Stop, whatever happens to ctx afterwards.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("delivery engine already started")
	}
	if e.cfg.RescueOnStart {
		n, err := e.store.DeliveryRescue(ctx, e.cfg.Now().Add(100*365*24*time.Hour), e.cfg.Now())
		if err != nil {
			return err
		}
		if n > 0 {
			e.log.Info("returned deliveries in flight at the last stop to the queue", "count", n)
		}
	}
	base := context.WithoutCancel(ctx)
	runCtx, stopRun := context.WithCancel(base)
	e.sendCtx, e.stopSends = context.WithCancel(base)
	e.stopRun = stopRun
	e.done = newCompleter(e.store, e.log)
	e.started = true
	e.loops.Add(1)
	go func() { defer e.loops.Done(); e.produce(runCtx) }()
	return nil
}

// Stop stops claiming, waits for attempts in flight until ctx ends (then
// aborts them, leaving their leases to be rescued), writes every result
// and returns. It is safe to call more than once.
func (e *Engine) Stop(ctx context.Context) {
	e.mu.Lock()
	if !e.started || e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	e.mu.Unlock()

	e.stopRun()
	e.loops.Wait()
	finished := make(chan struct{})
	go func() { e.sends.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		e.log.Warn("aborting delivery attempts still in flight at shutdown")
		e.stopSends()
		<-finished
	}
	e.stopSends()
	e.done.close()
}

// leaseFor is how long a claim may take, unless Lease is set. On a
// shared store, where a dead process's deliveries wait for their lease to
// end, it is short: the throttle's wait (the store gives out turns up to
// herald.ThrottleHorizon ahead) and one attempt; a delivery claimed ahead
// that would not start its attempt in time is left to the lease (see
// execute). Otherwise: waiting for the endpoint's slots (the attempts
// claimed ahead of it, claimAhead rounds at most), throttling (at most one
// claim's worth of attempts at the lowest rate, 1/s) and the attempt
// itself.
func (e *Engine) leaseFor() time.Duration {
	switch {
	case e.cfg.Lease > 0:
		return e.cfg.Lease
	case e.shared:
		return e.cfg.RequestTimeout + herald.ThrottleHorizon + e.cfg.LeaseExtra
	}
	return time.Duration(claimAhead+1)*e.cfg.RequestTimeout + e.cfg.LeaseExtra +
		time.Duration(e.cfg.PerEndpoint*claimAhead)*time.Second
}

// sleep waits d or until ctx ends.
func (e *Engine) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
