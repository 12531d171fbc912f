package receive

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ClaimResult is what Store.Claim found.
type ClaimResult int

// The outcomes of Store.Claim.
const (
	// Claimed: the caller now holds the event until its lease ends and
	// must Complete or Release it.
	Claimed ClaimResult = iota + 1
	// InProgress: another caller holds an unexpired lease on the event (or
	// it is queued for background processing).
	InProgress
	// Completed: the event was processed already.
	Completed
)

// String returns the result's name.
func (r ClaimResult) String() string {
	switch r {
	case Claimed:
		return "claimed"
	case InProgress:
		return "in_progress"
	case Completed:
		return "completed"
	}
	return "unknown"
}

// ErrStoreFull is returned by a bounded store that has no room for a new
// event (every record is still in progress or queued). The receiver answers
// 503 with Retry-After, so the sender tries again later.
var ErrStoreFull = errors.New("receive: store full")

// Store records event ids so that each event is processed once. Every
// method is safe for concurrent use, also from several processes when the
// store is shared (SQLStore).
type Store interface {
	// Claim records id as in progress, held by token until leaseUntil,
	// and returns Claimed, unless the event is completed (Completed) or
	// held by another unexpired lease (InProgress). A lease that has
	// expired (its holder crashed or overran) is taken over. Claiming is
	// atomic: of concurrent claims of one id, one at most gets Claimed.
	Claim(ctx context.Context, id, token string, leaseUntil time.Time) (ClaimResult, error)
	// Complete marks id processed, whoever holds it; later claims get
	// Completed until the record expires (the store's retention).
	Complete(ctx context.Context, id string) error
	// Release forgets the claim of id if token still holds it, so the
	// sender's retry can claim it again. Releasing a claim that token no
	// longer holds does nothing.
	Release(ctx context.Context, id, token string) error
}

// Job is a queued event handed to a background worker.
type Job struct {
	Event
	// Token holds the job's lease; pass it to Retry and Fail.
	Token string
}

// Queue is a Store that also keeps events with their bodies for
// background processing (Config.Async).
type Queue interface {
	Store
	// Enqueue records ev durably, due now, and returns true; it returns
	// false without change when ev.ID is already known (queued, in
	// progress, completed or failed).
	Enqueue(ctx context.Context, ev Event) (bool, error)
	// ClaimDue leases up to limit queued events that are due (or whose
	// worker's lease expired) to token until leaseUntil, counts the
	// attempt and returns them, attempt numbers from 1.
	ClaimDue(ctx context.Context, token string, leaseUntil time.Time, limit int) ([]Job, error)
	// Retry puts a job that token holds back in the queue, due at runAt,
	// with the last error message.
	Retry(ctx context.Context, id, token string, runAt time.Time, lastErr string) error
	// Fail marks a job that token holds failed for good: it is not
	// processed again, and stays until the store's retention passes.
	Fail(ctx context.Context, id, token string, lastErr string) error
}

// Event is a verified webhook.
type Event struct {
	// ID is the id the verifier returned (the webhook-id header for
	// Standard Webhooks); in the asynchronous mode an event whose scheme
	// carries none gets a random "local_" id.
	ID string
	// Body is the raw request body, byte for byte as signed.
	Body []byte
	// Header is the request's header.
	Header http.Header
	// Attempt is 1 for the first run, 2 for the first retry, and so on
	// (always 1 in the synchronous mode: the sender's retries are new
	// requests).
	Attempt int
}

// HandlerFunc processes one verified event. Returning an error (or
// panicking) makes the event count as not processed: in the synchronous
// mode the sender gets 500 and retries; in the asynchronous mode the worker
// retries with backoff.
type HandlerFunc func(ctx context.Context, ev Event) error
