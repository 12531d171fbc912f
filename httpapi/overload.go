package httpapi

import (
	"net/http"

	"github.com/herald-webhooks/herald"
)

// Retry-After values, in seconds, sent with 503 and 429 answers.
const (
	// retryAfterOverloaded answers a request refused because too many
	// were in progress: capacity frees up within moments.
	retryAfterOverloaded = "1"
	// retryAfterUnavailable answers a request the store could not take
	// (a full or read-only disk, a database that is down or busy).
	retryAfterUnavailable = "5"
)

// livenessPath is never refused for overload: a process busy serving is
// alive, and an orchestrator must not restart it for that.
const livenessPath = "/api/v1/health/ping"

// overloadedBody is the answer to a request refused by limitInFlight.
var overloadedBody = []byte(`{"code":"service_unavailable","detail":"Too many requests in progress; try again shortly."}`)

// limitInFlight bounds the requests being handled at once to
// cfg.MaxInFlight. Beyond it a request is answered 503 with Retry-After
// and the error body at once, before its body is read or any store call
// is made, so that a burst far above capacity costs little and the
// requests admitted keep their latency. It also counts answers refused
// for overload and 503s from the store, for alerting.
func (s *server) limitInFlight(next http.Handler) http.Handler {
	slots := make(chan struct{}, s.cfg.MaxInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == livenessPath {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			s.observeRejected(herald.RejectOverloaded)
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Retry-After", retryAfterOverloaded)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(overloadedBody)
			return
		}
		defer func() { <-slots }()
		if s.cfg.Observer == nil {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusServiceUnavailable {
			s.observeRejected(herald.RejectUnavailable)
		}
	})
}

// observeRejected counts a request answered 503, if observed.
func (s *server) observeRejected(reason string) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObserveRejected(reason)
	}
}

// setRetryAfter adds Retry-After to a 503 or 429 answer that has none.
func setRetryAfter(w http.ResponseWriter, status int) {
	if status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
		return
	}
	if w.Header().Get("Retry-After") != "" {
		return
	}
	v := retryAfterUnavailable
	if status == http.StatusTooManyRequests {
		v = retryAfterOverloaded
	}
	w.Header().Set("Retry-After", v)
}
