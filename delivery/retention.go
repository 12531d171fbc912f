package delivery

import (
	"context"
	"time"

	"github.com/herald-webhooks/herald"
)

// RetentionConfig configures the retention cleaner, a maintenance task:
// it expunges message payloads past their expiry (the message's
// payloadRetentionPeriod), then attempts' response bodies older than
// ResponseRetention, then deletes attempts older than AttemptRetention,
// then background tasks that ended and are older than TaskRetention.
// It works in batches of at most Batch rows, each its own short write,
// for at most RunBudget per run, so that it never holds the writer long
// and delivery goes on beside it. Zero values take the documented
// defaults.
type RetentionConfig struct {
	// Interval is how often the cleaner runs. Default 1m.
	Interval time.Duration
	// Batch is the most rows one statement examines. Default 500.
	Batch int
	// RunBudget bounds the time one run spends; the rest waits for the
	// next run. Default 2s.
	RunBudget time.Duration
	// ResponseRetention is how long attempts keep their response bodies.
	// Default 30 days.
	ResponseRetention time.Duration
	// AttemptRetention is how long attempts are kept. Default 90 days.
	AttemptRetention time.Duration
	// TaskRetention is how long background tasks are kept once they
	// ended, counted from their creation and their last update. Running
	// tasks are kept. Default 30 days.
	TaskRetention time.Duration
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.RunBudget <= 0 {
		c.RunBudget = 2 * time.Second
	}
	if c.ResponseRetention <= 0 {
		c.ResponseRetention = 30 * herald.RetentionDay
	}
	if c.AttemptRetention <= 0 {
		c.AttemptRetention = 90 * herald.RetentionDay
	}
	if c.TaskRetention <= 0 {
		c.TaskRetention = 30 * herald.RetentionDay
	}
	return c
}

// retention is the cleaner's state between runs: where the payload scan
// stopped, so that messages skipped because their deliveries are not done
// are not read again at every run before the ones behind them.
type retention struct {
	cfg   RetentionConfig
	store herald.RetentionStore
	after herald.ExpireCursor
}

func newRetention(cfg RetentionConfig, store herald.RetentionStore) *retention {
	return &retention{cfg: cfg, store: store}
}

// run is one run of the cleaner at time now: payloads, responses,
// attempts, then tasks, each in batches until none is left or the budget
// is spent.
// It reports how many rows it changed.
func (r *retention) run(ctx context.Context, now time.Time) (int, error) {
	deadline := time.Now().Add(r.cfg.RunBudget)
	total := 0
	n, err := r.payloads(ctx, now, deadline)
	total += n
	if err != nil {
		return total, err
	}
	passes := []struct {
		expire func(context.Context, herald.ExpireParams) (herald.ExpireResult, error)
		before time.Time
	}{
		{r.store.AttemptResponseExpire, now.Add(-r.cfg.ResponseRetention)},
		{r.store.AttemptDeleteExpired, now.Add(-r.cfg.AttemptRetention)},
		{r.store.TaskDeleteExpired, now.Add(-r.cfg.TaskRetention)},
	}
	for _, p := range passes {
		for ctx.Err() == nil && time.Now().Before(deadline) {
			res, err := p.expire(ctx, herald.ExpireParams{Before: p.before, Limit: r.cfg.Batch})
			total += res.Changed
			if err != nil {
				return total, err
			}
			if res.Examined < r.cfg.Batch {
				break
			}
		}
	}
	return total, ctx.Err()
}

// payloads expunges expired payloads from where the last run stopped;
// having reached the end of the expired ones, it starts again from the
// oldest at the next run.
func (r *retention) payloads(ctx context.Context, now, deadline time.Time) (int, error) {
	total := 0
	for ctx.Err() == nil && time.Now().Before(deadline) {
		res, err := r.store.MessagePayloadExpire(ctx, herald.ExpireParams{Before: now, Limit: r.cfg.Batch, After: r.after})
		total += res.Changed
		if err != nil {
			return total, err
		}
		if res.Examined < r.cfg.Batch {
			r.after = herald.ExpireCursor{}
			return total, nil
		}
		r.after = res.Next
	}
	return total, nil
}
