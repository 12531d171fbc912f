package herald

import (
	"context"
	"time"
)

// StoreObserver is told about each write batch a store's writer runs (its
// group commit): how many operations shared the transaction, how long the
// batch took from BEGIN to COMMIT, and the error when the whole batch
// failed. It is called from the writer's goroutine, so it must be fast and
// safe for concurrent use (a process may have several stores).
type StoreObserver interface {
	ObserveCommit(ops int, d time.Duration, err error)
}

// DeliveryObserver is told about each attempt the delivery engine makes:
// its result (the attempt's status code and the delivery's next state)
// and how long the HTTP exchange took. It must be fast and safe for
// concurrent use.
type DeliveryObserver interface {
	ObserveAttempt(res *DeliveryResult, d time.Duration)
}

// APIObserver is told about the API's events worth counting. It must be
// fast and safe for concurrent use.
type APIObserver interface {
	// ObserveMessageAccepted counts one message accepted for delivery.
	ObserveMessageAccepted()
	// ObserveRejected counts one request answered 503: reason is
	// RejectOverloaded or RejectUnavailable.
	ObserveRejected(reason string)
}

// Reasons for which the API answers 503, as told to APIObserver.
const (
	// RejectOverloaded: too many requests were in progress.
	RejectOverloaded = "overloaded"
	// RejectUnavailable: the store could not take the request (a full or
	// read-only disk, a database down, busy or too slow).
	RejectUnavailable = "unavailable"
)

// QueueStats is a snapshot of the delivery queue and of the endpoints,
// for monitoring. Counts are capped at QueueStatsCap so that reading them
// costs a bounded amount however large the queue grows; a count equal to
// the cap means "at least".
type QueueStats struct {
	// Due is the number of pending deliveries whose time has come.
	Due int64
	// Waiting is the number of pending deliveries due later (retries
	// waiting for their backoff, scheduled messages).
	Waiting int64
	// Sending is the number of deliveries claimed and not yet finished,
	// by every process.
	Sending int64
	// OldestDue is when the longest-waiting due delivery became due; zero
	// when none is due.
	OldestDue time.Time
	// EndpointsDisabled is the number of disabled endpoints.
	EndpointsDisabled int64
}

// QueueStatsCap bounds each count of QueueStats.
const QueueStatsCap = 100_000

// StatsStore reads monitoring snapshots.
type StatsStore interface {
	// QueueStats returns the queue's counts as of now (each capped at
	// QueueStatsCap).
	QueueStats(ctx context.Context, now time.Time) (QueueStats, error)
}
