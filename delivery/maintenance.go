package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/herald-webhooks/herald"
)

// maintenanceRole is the name nodes stand for election under.
const maintenanceRole = "maintenance"

// taskTimeout bounds one run of a maintenance task, so that a database
// that hangs cannot stop the leader from renewing its term afterwards.
const taskTimeout = time.Minute

// MaintenanceStore is what maintenance needs of the store.
type MaintenanceStore interface {
	herald.LeaderStore
	// DeliveryRescue is herald.DeliveryStore's.
	DeliveryRescue(ctx context.Context, leaseBefore, now time.Time) (int, error)
	// IdempotencyPurge is herald.AuthStore's.
	IdempotencyPurge(ctx context.Context, now time.Time) (int, error)
	// TokenPurgeExpired is herald.AuthStore's.
	TokenPurgeExpired(ctx context.Context, now time.Time) (int, error)
	// EndpointAutoDisable is herald.HealthStore's.
	EndpointAutoDisable(ctx context.Context, p herald.AutoDisableParams) ([]herald.Endpoint, error)
	herald.RetentionStore
	// TaskList is herald.AuthStore's.
	TaskList(ctx context.Context, f herald.TaskFilter, p herald.ListParams) (herald.Page[herald.Task], error)
	// TaskStep is herald.AuthStore's.
	TaskStep(ctx context.Context, id string, limit int, now time.Time) (*herald.Task, error)
}

// autoDisableBatch is the most endpoints one run of the auto-disable task
// disables per store call.
const autoDisableBatch = 50

// MaintenanceConfig configures maintenance. Zero values take the
// documented defaults.
type MaintenanceConfig struct {
	// Node names this process in elections; it must differ between the
	// processes sharing a store. Default: host name, process ID and a
	// random suffix.
	Node string
	// Term is how long a leader leads without renewing: the longest
	// maintenance waits for a new leader when its leader dies without
	// resigning. The leader renews every Term/3, and other nodes stand
	// for election as often. Default 15s.
	Term time.Duration
	// RescueInterval is how often the leader returns deliveries whose
	// lease ended (their process died) to the queue. Default 5s.
	RescueInterval time.Duration
	// PurgeInterval is how often the leader deletes expired idempotency
	// records and expired tokens. Default 5m.
	PurgeInterval time.Duration
	// AutoDisableAfter is how long an endpoint's deliveries must all
	// fail (no success, no gap of more than herald.HealthGap between
	// failures) before the leader disables it. 0: never (the zero value;
	// the server's default is 5 days).
	AutoDisableAfter time.Duration
	// AutoDisableInterval is how often the leader looks for endpoints to
	// disable. Default: a minute, or AutoDisableAfter/4 if shorter.
	AutoDisableInterval time.Duration
	// Retention configures the cleaner of expired payloads, responses,
	// attempts and ended background tasks (see RetentionConfig).
	Retention RetentionConfig
	// TaskInterval is how often the leader looks for running background
	// tasks (replays, recoveries) and advances them. Default 1s.
	TaskInterval time.Duration
	// TaskBatch is how many messages one step of a background task
	// examines, in one transaction. Default 500.
	TaskBatch int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives maintenance's logs. Default: discard.
	Logger *slog.Logger
}

func (c MaintenanceConfig) withDefaults() MaintenanceConfig {
	if c.Node == "" {
		c.Node = NodeName()
	}
	if c.Term <= 0 {
		c.Term = 15 * time.Second
	}
	if c.RescueInterval <= 0 {
		c.RescueInterval = 5 * time.Second
	}
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = 5 * time.Minute
	}
	if c.AutoDisableInterval <= 0 {
		c.AutoDisableInterval = min(time.Minute, max(c.AutoDisableAfter/4, 10*time.Millisecond))
	}
	c.Retention = c.Retention.withDefaults()
	if c.TaskInterval <= 0 {
		c.TaskInterval = time.Second
	}
	if c.TaskBatch <= 0 {
		c.TaskBatch = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// NodeName returns a name for this process among those sharing a store:
// host name, process ID and a random suffix, unique among live processes
// and readable in the store's tables.
func NodeName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Maintainer runs the work that one process at a time should do for all
// the processes sharing a store: returning deliveries whose lease ended
// to the queue, deleting expired idempotency records, and expunging what
// outlived its retention period (see RetentionConfig). Every process
// runs one; they elect a leader through the store, and only the leader
// works. When the leader stops it resigns, and another takes over at its
// next election; when it dies, another takes over once its term ends.
// Create it with NewMaintainer; it runs between Start and Stop.
type Maintainer struct {
	cfg   MaintenanceConfig
	store MaintenanceStore
	log   *slog.Logger
	tasks []*task

	mu      sync.Mutex
	leading bool
	started bool
	stop    context.CancelFunc
	done    chan struct{}
}

// task is one piece of leader-only work and when it last ran.
type task struct {
	name     string
	interval time.Duration
	run      func(ctx context.Context, now time.Time) (int, error)
	last     time.Time
}

// NewMaintainer returns a maintainer over store. It does nothing until
// Start.
func NewMaintainer(cfg MaintenanceConfig, store MaintenanceStore) *Maintainer {
	cfg = cfg.withDefaults()
	m := &Maintainer{cfg: cfg, store: store, log: cfg.Logger.With("node", cfg.Node)}
	m.tasks = []*task{
		{name: "rescue expired leases", interval: cfg.RescueInterval, run: func(ctx context.Context, now time.Time) (int, error) {
			return store.DeliveryRescue(ctx, now, now)
		}},
		{name: "purge idempotency records", interval: cfg.PurgeInterval, run: store.IdempotencyPurge},
		{name: "purge expired tokens", interval: cfg.PurgeInterval, run: store.TokenPurgeExpired},
		{name: "expire retained data", interval: cfg.Retention.Interval, run: newRetention(cfg.Retention, store).run},
		{name: "background tasks ended", interval: cfg.TaskInterval, run: m.runTasks},
	}
	if cfg.AutoDisableAfter > 0 {
		m.tasks = append(m.tasks, &task{name: "disable failing endpoints", interval: cfg.AutoDisableInterval,
			run: m.autoDisable})
	}
	return m
}

// autoDisable disables the endpoints whose deliveries have all failed for
// AutoDisableAfter, in batches of autoDisableBatch, and reports how many.
// An endpoint counts as still failing when its last failure is more
// recent than herald.HealthGap (or AutoDisableAfter, if shorter).
func (m *Maintainer) autoDisable(ctx context.Context, now time.Time) (int, error) {
	p := herald.AutoDisableParams{Now: now, FailingSince: now.Add(-m.cfg.AutoDisableAfter),
		FailedAfter: now.Add(-min(herald.HealthGap, m.cfg.AutoDisableAfter)), Limit: autoDisableBatch}
	total := 0
	for {
		eps, err := m.store.EndpointAutoDisable(ctx, p)
		total += len(eps)
		for i := range eps {
			m.log.Warn("endpoint disabled: every delivery failed", "app_id", eps[i].AppID,
				"endpoint_id", eps[i].ID, "reason", eps[i].DisabledReason)
		}
		if err != nil || len(eps) < p.Limit {
			return total, err
		}
	}
}

// Node is the name this maintainer stands for election under.
func (m *Maintainer) Node() string { return m.cfg.Node }

// Leading reports whether this process leads maintenance now.
func (m *Maintainer) Leading() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leading
}

// Start starts standing for election and returns. The maintainer runs
// until Stop, whatever happens to ctx afterwards.
func (m *Maintainer) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("maintainer already started")
	}
	m.started = true
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop, m.done = stop, make(chan struct{})
	go func() { defer close(m.done); m.run(runCtx) }()
	return nil
}

// Stop stops the maintainer and, if it leads, resigns so that another
// process takes over at once. It is safe to call more than once.
func (m *Maintainer) Stop(ctx context.Context) {
	m.mu.Lock()
	if !m.started || m.stop == nil {
		m.mu.Unlock()
		return
	}
	stop, done := m.stop, m.done
	m.stop = nil
	m.mu.Unlock()
	stop()
	<-done
	if m.setLeading(false) {
		if err := m.store.LeaderResign(ctx, maintenanceRole, m.cfg.Node); err != nil {
			m.log.Warn("resign maintenance leadership", "err", err)
		} else {
			m.log.Info("resigned maintenance leadership")
		}
	}
}

// run stands for election every Term/3 and, while leading, runs each task
// when its interval has passed.
func (m *Maintainer) run(ctx context.Context) {
	campaign := m.cfg.Term / 3
	nextCampaign := time.Time{}
	for ctx.Err() == nil {
		now := m.cfg.Now()
		if !now.Before(nextCampaign) {
			m.campaign(ctx, now)
			nextCampaign = now.Add(campaign)
		}
		wake := nextCampaign
		if m.Leading() {
			wake = earliest(wake, m.runDue(ctx))
		}
		m.sleep(ctx, wake.Sub(m.cfg.Now()))
	}
}

// campaign stands for (or renews) leadership. A failed attempt counts as
// lost: the term may end before the store can be asked again.
func (m *Maintainer) campaign(ctx context.Context, now time.Time) {
	// An answer later than a third of the term could come after the term
	// it renews has ended.
	attemptCtx, cancel := context.WithTimeout(ctx, m.cfg.Term/3)
	defer cancel()
	leads, err := m.store.LeaderAttempt(attemptCtx, maintenanceRole, m.cfg.Node, now, now.Add(m.cfg.Term))
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("stand for maintenance leadership", "err", err)
	}
	was := m.setLeading(leads)
	switch {
	case leads && !was:
		m.log.Info("elected maintenance leader")
	case !leads && was:
		m.log.Warn("lost maintenance leadership")
	}
}

// setLeading records whether this process leads and returns whether it
// led before.
func (m *Maintainer) setLeading(leads bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.leading
	m.leading = leads
	return was
}

// runDue runs the tasks whose interval has passed and returns when the
// next one falls due.
func (m *Maintainer) runDue(ctx context.Context) time.Time {
	var next time.Time
	for _, t := range m.tasks {
		now := m.cfg.Now()
		if t.last.IsZero() || !now.Before(t.last.Add(t.interval)) {
			t.last = now
			taskCtx, cancel := context.WithTimeout(ctx, taskTimeout)
			n, err := t.run(taskCtx, now)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				m.log.Warn(t.name, "err", err)
			case n > 0:
				m.log.Info(t.name, "count", n)
			}
		}
		next = earliest(next, t.last.Add(t.interval))
	}
	return next
}

// earliest returns the earlier of a and b, ignoring zero times.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// sleep waits d or until ctx ends.
func (m *Maintainer) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
