package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-webhooks/herald"
)

// QueueConfig sets up the queue gauges.
type QueueConfig struct {
	// MaxAge is how long one reading of the store serves scrapes: however
	// often Prometheus scrapes, the store is read at most once per MaxAge.
	// Default 5s.
	MaxAge time.Duration
	// Timeout bounds one reading. Default 5s.
	Timeout time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives failed readings. Default: discard.
	Logger *slog.Logger
}

// WatchQueue adds the queue gauges (due, waiting, sending, oldest due
// age, disabled endpoints), read from the store at scrape time, at most
// once per cfg.MaxAge, each count capped (herald.QueueStatsCap). They
// describe the whole store, so every node sharing a database reports the
// same values. When a reading fails, the gauges are left out of that
// scrape.
func (m *Metrics) WatchQueue(cfg QueueConfig, store herald.StatsStore) {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m.reg.MustRegister(&queueCollector{cfg: cfg, store: store})
}

var (
	descDue = prometheus.NewDesc("herald_deliveries_due",
		"Pending deliveries whose time has come, waiting for a sender (store-wide, capped).", nil, nil)
	descWaiting = prometheus.NewDesc("herald_deliveries_waiting",
		"Pending deliveries due later: retries waiting for their backoff, scheduled messages (store-wide, capped).", nil, nil)
	descSending = prometheus.NewDesc("herald_deliveries_sending",
		"Deliveries claimed by any process and not yet finished (store-wide, capped).", nil, nil)
	descOldest = prometheus.NewDesc("herald_oldest_due_delivery_age_seconds",
		"How long the longest-waiting due delivery has been due; 0 when none is due.", nil, nil)
	descDisabled = prometheus.NewDesc("herald_endpoints_disabled",
		"Disabled endpoints (store-wide, capped).", nil, nil)
)

// queueCollector reads QueueStats when scraped, caching the reading.
type queueCollector struct {
	cfg   QueueConfig
	store herald.StatsStore

	mu     sync.Mutex
	last   herald.QueueStats
	readAt time.Time
	ok     bool
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDue, descWaiting, descSending, descOldest, descDisabled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	st, now, ok := c.read()
	if !ok {
		return
	}
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = max(0, now.Sub(st.OldestDue).Seconds())
	}
	for _, v := range []struct {
		d *prometheus.Desc
		v float64
	}{{descDue, float64(st.Due)}, {descWaiting, float64(st.Waiting)}, {descSending, float64(st.Sending)},
		{descOldest, age}, {descDisabled, float64(st.EndpointsDisabled)}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, v.v)
	}
}

// read returns the cached reading while it is fresh, else reads the store.
func (c *queueCollector) read() (herald.QueueStats, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < c.cfg.MaxAge {
		return c.last, now, c.ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	st, err := c.store.QueueStats(ctx, now)
	c.last, c.readAt, c.ok = st, now, err == nil
	if err != nil {
		c.cfg.Logger.Warn("read queue stats for metrics", "err", err)
	}
	return st, now, c.ok
}
