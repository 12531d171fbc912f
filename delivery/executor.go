package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/signing"
)

// maxReadBytes is the most of a response body read before the connection
// is dropped; MaxResponseBytes of it are kept.
const maxReadBytes = 64 << 10

// slowAttemptMs marks an endpoint slow: no claiming ahead for it.
const slowAttemptMs = 1000

// execute waits for the endpoint's throttle turn (given by a shared store,
// else by this process's bucket) and slot, checks that the lease still
// covers an attempt, makes the attempt and hands the result to the
// completer. On shutdown it gives up without a result: the lease brings the
// delivery back.
func (e *Engine) execute(job *herald.DeliveryJob, st *endpointState) {
	ctx := e.sendCtx
	switch rate := job.Endpoint.ThrottleRate; {
	case !job.NotBefore.IsZero(): // paced by the store, for every process
		if d := job.NotBefore.Sub(e.cfg.Now()); d > 0 {
			e.sleep(ctx, d)
		}
	case rate != nil && *rate > 0:
		at := e.limits.reserve(st, float64(*rate), e.cfg.Now())
		if d := at.Sub(e.cfg.Now()); d > 0 {
			e.sleep(ctx, d)
		}
	}
	if !st.acquire(ctx) {
		return
	}
	defer st.release()
	if ctx.Err() != nil || !e.leaseCovers(job) {
		return
	}
	res, ok := e.attempt(ctx, job)
	if !ok {
		return // aborted by shutdown
	}
	a := &res.Attempt
	e.limits.observe(st, a.ResponseStatusCode == 0 || a.ResponseDurationMs > slowAttemptMs)
	e.done.add(res)
}

// leaseCovers reports whether the job's lease lasts until its attempt
// would time out. A delivery that waited too long for its turn or its slot
// is left alone: its lease brings it back to the queue, where another
// process may take it, and it must not then be sent by both.
func (e *Engine) leaseCovers(job *herald.DeliveryJob) bool {
	lease := job.Delivery.LeaseUntil
	if lease.IsZero() || !e.cfg.Now().Add(e.cfg.RequestTimeout).After(lease) {
		return true
	}
	e.log.Warn("delivery left to its lease: too little of it is left for the attempt",
		"app_id", job.Delivery.AppID, "msg_id", job.Message.ID, "endpoint_id", job.Endpoint.ID, "lease_until", lease)
	return false
}

// attempt makes one HTTP attempt and returns the result to write; false
// when shutdown aborted it.
func (e *Engine) attempt(ctx context.Context, job *herald.DeliveryJob) (res herald.DeliveryResult, ok bool) {
	start := e.cfg.Now()
	began := time.Now() // monotonic, for the duration metric
	out := outcome{}
	ctx, span := e.startAttemptSpan(ctx, job)
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("delivery attempt panicked", "app_id", job.Delivery.AppID, "msg_id", job.Message.ID, "endpoint_id", job.Endpoint.ID, "err", r)
			out = outcome{reason: "internal error during the attempt"}
			res, ok = e.result(job, start, out), true
		}
		if ok {
			e.observe(&res, time.Since(began))
			endAttemptSpan(span, &res)
		} else {
			span.End() // aborted by shutdown: nothing recorded
		}
	}()
	switch {
	case job.Endpoint.Disabled:
		out.reason = "endpoint is disabled"
		out.final = true
	case job.Message.Payload == nil:
		// Stores end the deliveries of an expunged message; one that a
		// race let through is never sent (there is nothing to send) and
		// ends here, with the reason.
		out = outcome{reason: reasonExpunged, final: true, notSent: true}
	default:
		out = e.post(ctx, job, start)
		if out.aborted {
			return res, false
		}
	}
	res = e.result(job, start, out)
	e.logAttempt(job, res)
	return res, true
}

// outcome is what one attempt came to.
type outcome struct {
	code       int           // HTTP status, 0 without a response
	body       string        // kept response body, or the failure reason
	reason     string        // why there was no response
	retryAfter time.Duration // asked for by the receiver
	final      bool          // do not retry
	broken     bool          // the response was cut short: not a success
	aborted    bool          // cancelled by shutdown: record nothing
	notSent    bool          // no request made: the payload was expunged
}

// reasonExpunged is the recorded reason of a delivery that was not sent
// because its message's payload was expunged.
const reasonExpunged = "not sent: the message's payload was expunged"

// post signs and sends the message to the endpoint. The whole exchange
// (connecting, the request, the response headers and the body read) ends
// within RequestTimeout: the HTTP client's timeout bounds it, or, for a
// client without one as short, a deadline of the attempt's own.
func (e *Engine) post(ctx context.Context, job *herald.DeliveryJob, now time.Time) outcome {
	if e.ownDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.RequestTimeout)
		defer cancel()
	}
	req, err := e.request(ctx, job, now)
	if err != nil {
		return outcome{reason: err.Error()}
	}
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		if e.sendCtx.Err() != nil {
			return outcome{aborted: true}
		}
		return outcome{reason: e.describe(err, false)}
	}
	defer resp.Body.Close()
	// Only the first maxReadBytes are read: closing the body then drops
	// the connection, so a receiver's endless body costs no more.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReadBytes))
	if err != nil && e.sendCtx.Err() != nil {
		return outcome{aborted: true}
	}
	out := outcome{code: resp.StatusCode, body: truncateUTF8(body, e.cfg.MaxResponseBytes)}
	switch {
	case err != nil: // a response cut short is no answer the receiver finished
		out.broken = true
		out.body = fmt.Sprintf("%s (status %d, %d bytes of the body read)", e.describe(err, true), resp.StatusCode, len(body))
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		out.body = fmt.Sprintf("redirect not followed (%d to %s)", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		out.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), e.cfg.Now())
	}
	return out
}

// request builds the signed POST for job.
func (e *Engine) request(ctx context.Context, job *herald.DeliveryJob, now time.Time) (*http.Request, error) {
	payload := []byte(job.Message.Payload)
	if payload == nil {
		return nil, errors.New(reasonExpunged) // never sent as anything else
	}
	keys := make([]signing.Key, 0, len(job.Endpoint.Secrets))
	for _, s := range job.Endpoint.ActiveSecrets(now) {
		k, err := signing.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("endpoint secret unusable: %v", err)
		}
		keys = append(keys, k)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Endpoint.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invalid endpoint URL: %v", err)
	}
	// A webhook is idempotent by its webhook-id (at least once is the
	// contract), so when a kept-alive connection turns out to have been
	// closed by the receiver before it answered, the request may go again
	// on a new connection instead of failing the attempt. net/http does
	// that for requests with this header; a nil value is not sent.
	req.Header["Idempotency-Key"] = nil
	for k, v := range job.Endpoint.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", e.cfg.UserAgent)
	if err := signing.SetHeaders(req.Header, keys, job.Message.ID, now, payload); err != nil {
		return nil, fmt.Errorf("sign: %v", err)
	}
	return req, nil
}

// result turns an outcome into the delivery's next state.
func (e *Engine) result(job *herald.DeliveryJob, start time.Time, out outcome) herald.DeliveryResult {
	end := e.cfg.Now()
	d := job.Delivery
	success := out.code >= 200 && out.code < 300 && !out.broken
	a := herald.Attempt{
		ID:                 herald.NewID(herald.PrefixAttempt, end),
		DeliveryID:         d.ID,
		AppID:              d.AppID,
		MsgID:              d.MsgID,
		EndpointID:         d.EndpointID,
		URL:                job.Endpoint.URL,
		Status:             herald.StatusFail,
		ResponseStatusCode: out.code,
		Response:           out.body,
		ResponseDurationMs: end.Sub(start).Milliseconds(),
		Trigger:            d.Trigger,
		CreatedAt:          end,
	}
	if out.code == 0 {
		a.Response = truncateUTF8([]byte(out.reason), e.cfg.MaxResponseBytes)
	} else if out.broken || (out.code >= 300 && out.code < 400) {
		a.Response = truncateUTF8([]byte(out.body), e.cfg.MaxResponseBytes)
	}
	res := herald.DeliveryResult{Attempt: a, Attempts: d.Attempts + 1, NotSent: out.notSent}
	switch next, retry := e.cfg.Policy.Next(end, d.Attempts+1, out.retryAfter); {
	case success:
		res.Attempt.Status = herald.StatusSuccess
		res.Status = herald.StatusSuccess
	case retry && !out.final:
		res.Status = herald.StatusPending
		res.NextAttemptAt = next
	default:
		res.Status = herald.StatusFail
	}
	return res
}

// describe says why a request got no response (reading false) or why its
// response body could not be read (reading true), briefly and without
// internal detail a receiver's owner could not act on.
func (e *Engine) describe(err error, reading bool) string {
	var blocked *egress.BlockedError
	msg := err.Error()
	switch {
	case errors.As(err, &blocked):
		return blocked.Error()
	case isTimeout(err):
		return e.describeTimeout(err, reading)
	case errors.Is(err, syscall.ECONNRESET):
		if reading {
			return "connection reset by the receiver while sending the response body"
		}
		return "connection reset by the receiver"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case strings.Contains(msg, "malformed "):
		return "invalid HTTP response: " + msg[strings.Index(msg, "malformed "):]
	case strings.Contains(msg, "response headers exceeded"):
		return "invalid HTTP response: headers too large"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if reading {
			return "connection closed by the receiver before the end of the response body"
		}
		return "connection closed by the receiver without a response"
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "Post ") {
		msg = msg[i+2:] // drop the `Post "url": ` prefix the client adds
	}
	return msg
}

// describeTimeout names the part of the exchange the request timeout ended.
func (e *Engine) describeTimeout(err error, reading bool) string {
	var opErr *net.OpError
	switch {
	case reading:
		return fmt.Sprintf("response body read timed out after %s", e.cfg.RequestTimeout)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("timeout after %s connecting", e.cfg.RequestTimeout)
	}
	return fmt.Sprintf("timeout after %s waiting for the response headers", e.cfg.RequestTimeout)
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

func (e *Engine) logAttempt(job *herald.DeliveryJob, res herald.DeliveryResult) {
	level := slogLevel(res.Attempt.Status == herald.StatusSuccess)
	attrs := []any{"app_id", job.Delivery.AppID, "endpoint_id", job.Delivery.EndpointID, "msg_id", job.Delivery.MsgID,
		"attempt", res.Attempts, "status_code", res.Attempt.ResponseStatusCode,
		"duration_ms", res.Attempt.ResponseDurationMs, "next", res.Status.String()}
	if code := res.Attempt.ResponseStatusCode; code == 0 || (code < 400 && res.Attempt.Status != herald.StatusSuccess) {
		attrs = append(attrs, "err", res.Attempt.Response) // why: no response, cut short, redirect
	}
	e.log.Log(context.Background(), level, "delivery attempt", attrs...)
}

// truncateUTF8 returns at most n bytes of b as text every store can
// keep: valid UTF-8 without NUL bytes, each invalid sequence and NUL
// replaced by U+FFFD (PostgreSQL text holds neither).
func truncateUTF8(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return string(b)
	}
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// It returns 0 when absent or malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
