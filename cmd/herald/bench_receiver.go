package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchReceiver is the bench's own webhook receiver on loopback. Paths
// /ok/... answer 204 at once; /hang/... hold the request until the sender
// gives up; /down/... answer 503. It counts arrivals and records, for
// payloads made by benchPayload, the time from the API call to arrival.
type benchReceiver struct {
	srv  *http.Server
	URL  string
	rec  atomic.Pointer[latencyRecorder]
	hits atomic.Int64
	last atomic.Int64 // unix nanos of the latest arrival
}

func startBenchReceiver() (*benchReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &benchReceiver{URL: "http://" + ln.Addr().String()}
	r.rec.Store(newLatencyRecorder())
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *benchReceiver) serve(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	switch {
	case len(p) >= 6 && p[:6] == "/hang/":
		<-req.Context().Done()
		return
	case len(p) >= 6 && p[:6] == "/down/":
		io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(req.Body)
	now := time.Now().UnixNano()
	r.hits.Add(1)
	r.last.Store(now)
	if sent, ok := sentAt(body); ok {
		r.rec.Load().add(time.Duration(now - sent))
	}
	w.WriteHeader(http.StatusNoContent)
}

// reset starts a new measurement: counters to zero, a new recorder.
func (r *benchReceiver) reset() *latencyRecorder {
	rec := newLatencyRecorder()
	r.rec.Store(rec)
	r.hits.Store(0)
	r.last.Store(0)
	return rec
}

func (r *benchReceiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.srv.Shutdown(ctx)
}

// waitHits waits until the receiver has counted n arrivals, timeout
// passes or ctx ends (the bench was interrupted).
func (r *benchReceiver) waitHits(ctx context.Context, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for r.hits.Load() < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for deliveries: " + strconv.FormatInt(r.hits.Load(), 10) + " of " + strconv.FormatInt(n, 10))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// benchPayload returns a JSON payload of about size bytes that records when
// it was sent.
func benchPayload(size int, seq int64) []byte {
	b := make([]byte, 0, size+64)
	b = append(b, `{"sent":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"pad":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// sentAt reads the "sent" time from a payload made by benchPayload.
func sentAt(body []byte) (int64, bool) {
	const key = `{"sent":`
	if !bytes.HasPrefix(body, []byte(key)) {
		return 0, false
	}
	rest := body[len(key):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}

// latencyRecorder keeps every latency sample of one measurement.
type latencyRecorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

func newLatencyRecorder() *latencyRecorder {
	return &latencyRecorder{samples: make([]time.Duration, 0, 1<<16)}
}

func (l *latencyRecorder) add(d time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, d)
	l.mu.Unlock()
}

// snapshot returns a sorted copy of the samples.
func (l *latencyRecorder) snapshot() []time.Duration {
	l.mu.Lock()
	s := append([]time.Duration(nil), l.samples...)
	l.mu.Unlock()
	sortDurations(s)
	return s
}
