package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
)

// Metrics holds Herald's metrics. It implements herald.StoreObserver,
// herald.DeliveryObserver and herald.APIObserver.
type Metrics struct {
	reg *prometheus.Registry

	messages     prometheus.Counter
	rejected     *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	attemptTime  *prometheus.HistogramVec
	commitTime   prometheus.Histogram
	commitBatch  prometheus.Histogram
	commitErrors prometheus.Counter
}

// New returns Herald's metrics on a new registry, with Go runtime and
// process metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_messages_accepted_total",
			Help: "Messages accepted by the API for delivery.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_api_rejected_total",
			Help: "API requests answered 503 with Retry-After, by reason: overloaded (more than HERALD_API_MAX_INFLIGHT in progress) or unavailable (the store could not take them: a full or read-only disk, a database down or too slow).",
		}, []string{"reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_attempts_total",
			Help: "Delivery attempts made by this process, by outcome (success, retry, failed) and HTTP status class (2xx..5xx, none).",
		}, []string{"outcome", "status_class"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_attempt_duration_seconds",
			Help:    "Duration of delivery attempts (the HTTP exchange), by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_store_commit_duration_seconds",
			Help:    "Duration of the store's write batches (group commits), from BEGIN to COMMIT.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_store_commit_batch_size",
			Help:    "Write operations that shared one store transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_commit_errors_total",
			Help: "Store write batches that failed as a whole.",
		}),
	}
	m.reg.MustRegister(m.messages, m.rejected, m.attempts, m.attemptTime, m.commitTime, m.commitBatch, m.commitErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, reason := range []string{herald.RejectOverloaded, herald.RejectUnavailable} {
		m.rejected.WithLabelValues(reason) // present from the start, at zero
	}
	for _, outcome := range []string{"success", "retry", "failed"} {
		m.attemptTime.WithLabelValues(outcome) // present from the start, at zero
	}
	return m
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveMessageAccepted implements herald.APIObserver.
func (m *Metrics) ObserveMessageAccepted() { m.messages.Inc() }

// ObserveRejected implements herald.APIObserver.
func (m *Metrics) ObserveRejected(reason string) { m.rejected.WithLabelValues(reason).Inc() }

// ObserveAttempt implements herald.DeliveryObserver.
func (m *Metrics) ObserveAttempt(res *herald.DeliveryResult, d time.Duration) {
	outcome := delivery.Outcome(res)
	m.attempts.WithLabelValues(outcome, delivery.StatusClass(res.Attempt.ResponseStatusCode)).Inc()
	m.attemptTime.WithLabelValues(outcome).Observe(d.Seconds())
}

// ObserveCommit implements herald.StoreObserver.
func (m *Metrics) ObserveCommit(ops int, d time.Duration, err error) {
	if err != nil {
		m.commitErrors.Inc()
		return
	}
	m.commitTime.Observe(d.Seconds())
	m.commitBatch.Observe(float64(ops))
}

// InFlight reports this process's deliveries in flight through f (the
// delivery engine's count), read at each scrape.
func (m *Metrics) InFlight(f func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_deliveries_in_flight",
		Help: "Deliveries claimed by this process's engine and not yet finished.",
	}, func() float64 { return float64(f()) }))
}
