package receive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// storeTimeout bounds the store writes made after a handler ran, which do
// not use the request's context (the sender may have gone).
const storeTimeout = 10 * time.Second

// Receiver is the webhook endpoint: an http.Handler that accepts POST
// requests, verifies, deduplicates and processes them. Its answers:
//
//	200 processed now, or a repeat of an event already processed
//	    (asynchronous mode: a repeat of an event already queued)
//	202 asynchronous mode: queued durably, processed in the background
//	400 missing or malformed signature headers, or an unreadable body
//	401 signature or timestamp rejected
//	405 not POST (with Allow: POST)
//	409 the same event is being processed by another request right now
//	    (with Retry-After): the sender retries later, and the handler
//	    never runs twice at once for one event
//	413 body over Config.MaxBody
//	500 the handler failed or panicked, or the store failed: the claim is
//	    released, so the sender's retry runs the handler again
//	503 the store is full (ErrStoreFull), with Retry-After
//
// Error bodies are only the status text: nothing tells a caller which
// header or signature was wrong.
type Receiver struct {
	cfg  Config
	wake chan struct{}

	mu     sync.Mutex
	stop   chan struct{}      // closed by Stop: claim no more jobs
	cancel context.CancelFunc // cancels running handlers when Stop gives up
	done   chan struct{}      // closed when every goroutine has returned
}

// New returns a Receiver for cfg, or an error if cfg lacks a Verifier or
// Handler, or has Async with a Store that is not a Queue.
func New(cfg Config) (*Receiver, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Receiver{cfg: c, wake: make(chan struct{}, 1)}, nil
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			answer(w, http.StatusRequestEntityTooLarge)
			return
		}
		answer(w, http.StatusBadRequest)
		return
	}
	id, err := r.cfg.Verifier.Verify(req.Header, body)
	if err != nil {
		r.cfg.Logger.Debug("receive: rejected", "err", err)
		answer(w, verifyStatus(err))
		return
	}
	ev := Event{ID: id, Body: body, Header: req.Header.Clone(), Attempt: 1}
	if r.cfg.Async != nil {
		r.enqueue(w, req, ev)
		return
	}
	r.process(w, req, ev)
}

// verifyStatus maps a verification error to 400 (the request is not a
// well-formed signed webhook) or 401 (it is, but is not accepted).
func verifyStatus(err error) int {
	switch {
	case errors.Is(err, signing.ErrMissingHeader),
		errors.Is(err, signing.ErrMalformedHeader),
		errors.Is(err, signing.ErrInvalidTimestamp):
		return http.StatusBadRequest
	}
	return http.StatusUnauthorized
}

// process claims ev, runs the handler and records the outcome.
func (r *Receiver) process(w http.ResponseWriter, req *http.Request, ev Event) {
	// The handler's work goes on if the sender hangs up: its retry then
	// finds the event completed (or in progress) instead of running it twice.
	ctx := context.WithoutCancel(req.Context())
	if ev.ID == "" { // the scheme carries no id: nothing to deduplicate on
		r.answerRun(w, r.run(ctx, ev))
		return
	}
	token := newToken()
	leaseUntil := time.Now().Add(r.cfg.Lease)
	res, err := r.cfg.Store.Claim(req.Context(), ev.ID, token, leaseUntil)
	if err != nil {
		r.storeFailed(w, "claim", ev.ID, err)
		return
	}
	switch res {
	case Completed:
		answer(w, http.StatusOK)
		return
	case InProgress:
		w.Header().Set("Retry-After", seconds(r.cfg.InProgressRetry))
		answer(w, http.StatusConflict)
		return
	}
	hctx, cancel := context.WithDeadline(ctx, leaseUntil)
	err = r.run(hctx, ev)
	cancel()
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err != nil {
		if rerr := r.cfg.Store.Release(sctx, ev.ID, token); rerr != nil {
			r.cfg.Logger.Error("receive: release failed; the event waits for its lease to expire", "event_id", ev.ID, "err", rerr)
		}
	} else if cerr := r.cfg.Store.Complete(sctx, ev.ID); cerr != nil {
		r.cfg.Logger.Error("receive: complete failed; a repeat after the lease may run the handler again", "event_id", ev.ID, "err", cerr)
	}
	r.answerRun(w, err)
}

// enqueue queues ev for the background workers.
func (r *Receiver) enqueue(w http.ResponseWriter, req *http.Request, ev Event) {
	if ev.ID == "" {
		ev.ID = "local_" + newToken()
	}
	added, err := r.cfg.Store.(Queue).Enqueue(req.Context(), ev)
	if err != nil {
		r.storeFailed(w, "enqueue", ev.ID, err)
		return
	}
	if !added {
		answer(w, http.StatusOK)
		return
	}
	r.notify()
	answer(w, http.StatusAccepted)
}

// run calls the handler, turning a panic into an error.
func (r *Receiver) run(ctx context.Context, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
			r.cfg.Logger.Error("receive: handler panicked", "event_id", ev.ID, "attempt", ev.Attempt, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := r.cfg.Handler(ctx, ev); err != nil {
		r.cfg.Logger.Warn("receive: handler failed", "event_id", ev.ID, "attempt", ev.Attempt, "err", err)
		return err
	}
	return nil
}

// answerRun answers 200 after a successful handler run and 500 otherwise.
func (r *Receiver) answerRun(w http.ResponseWriter, err error) {
	if err != nil {
		answer(w, http.StatusInternalServerError)
		return
	}
	answer(w, http.StatusOK)
}

// storeFailed answers a store error: 503 when full, 500 otherwise.
func (r *Receiver) storeFailed(w http.ResponseWriter, op, id string, err error) {
	if errors.Is(err, ErrStoreFull) {
		r.cfg.Logger.Warn("receive: store full", "event_id", id)
		w.Header().Set("Retry-After", seconds(r.cfg.InProgressRetry))
		answer(w, http.StatusServiceUnavailable)
		return
	}
	r.cfg.Logger.Error("receive: store "+op+" failed", "event_id", id, "err", err)
	answer(w, http.StatusInternalServerError)
}

// answer writes status with its status text as the only body.
func answer(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status)+"\n")
}

// seconds formats d as a Retry-After value, at least 1.
func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// newToken returns a random 128-bit hex token.
func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("receive: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
