package receive_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/receive"
)

// TestDeliveredOnce proves the handler gets the verified body and id, and
// a repeat of a completed event answers 200 without running it again.
func TestDeliveredOnce(t *testing.T) {
	var mu sync.Mutex
	var got []receive.Event
	_, srv := newReceiver(t, receive.Config{Handler: func(_ context.Context, ev receive.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}})
	body := `{"type": "user.created",  "n": 1}`
	for i := range 3 {
		if r := deliver(t, srv.URL, "msg_once", body); r.Status != http.StatusOK {
			t.Fatalf("delivery %d: status %d: %s", i, r.Status, r.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("handler ran %d times, want 1", len(got))
	}
	if got[0].ID != "msg_once" || string(got[0].Body) != body || got[0].Attempt != 1 || got[0].Header.Get("Content-Type") != "application/json" {
		t.Errorf("event %+v", got[0])
	}
}

// TestRejections proves each kind of bad request gets its status and a
// body that says nothing about what was wrong, and never reaches the
// handler.
func TestRejections(t *testing.T) {
	var runs atomic.Int32
	_, srv := newReceiver(t, receive.Config{MaxBody: 64, Handler: func(context.Context, receive.Event) error {
		runs.Add(1)
		return nil
	}})
	tampered := signedRequest(t, srv.URL, "msg_1", `{"a":1}`)
	tampered.Body, tampered.ContentLength = http.NoBody, 0
	tampered = withBody(tampered, `{"a":2}`)
	wrongSig := signedRequest(t, srv.URL, "msg_1", `{"a":1}`)
	wrongSig.Header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	stale := signedRequest(t, srv.URL, "msg_1", `{"a":1}`)
	stale.Header.Set("webhook-timestamp", "1614265330")
	missing := signedRequest(t, srv.URL, "msg_1", `{"a":1}`)
	missing.Header.Del("webhook-signature")
	malformedTS := signedRequest(t, srv.URL, "msg_1", `{"a":1}`)
	malformedTS.Header.Set("webhook-timestamp", "yesterday")
	get, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	cases := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"tampered body", tampered, 401},
		{"wrong signature", wrongSig, 401},
		{"stale timestamp", stale, 401},
		{"missing signature header", missing, 400},
		{"malformed timestamp", malformedTS, 400},
		{"oversize body", signedRequest(t, srv.URL, "msg_big", strings.Repeat("x", 65)), 413},
		{"GET", get, 405},
	}
	for _, tc := range cases {
		r := do(t, tc.req)
		if r.Status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, r.Status, tc.want)
		}
		if want := http.StatusText(tc.want) + "\n"; r.Body != want {
			t.Errorf("%s: body %q, want only %q", tc.name, r.Body, want)
		}
	}
	if n := runs.Load(); n != 0 {
		t.Errorf("handler ran %d times for rejected requests", n)
	}
	if r := deliver(t, srv.URL, "msg_fits", strings.Repeat("x", 64)); r.Status != 200 {
		t.Errorf("a body of exactly MaxBody: status %d", r.Status)
	}
}

func withBody(req *http.Request, body string) *http.Request {
	r2, _ := http.NewRequest(req.Method, req.URL.String(), strings.NewReader(body))
	r2.Header = req.Header
	return r2
}

// TestFailureReleases proves a failing or panicking handler answers 500 and
// releases its claim, so the sender's retry runs it again, and that the
// panic is logged.
func TestFailureReleases(t *testing.T) {
	var runs atomic.Int32
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	_, srv := newReceiver(t, receive.Config{Logger: logger, Handler: func(context.Context, receive.Event) error {
		switch runs.Add(1) {
		case 1:
			return errors.New("database down")
		case 2:
			panic("nil map")
		}
		return nil
	}})
	for i, want := range []int{500, 500, 200, 200} {
		if r := deliver(t, srv.URL, "msg_flaky", `{}`); r.Status != want {
			t.Fatalf("delivery %d: status %d, want %d", i, r.Status, want)
		}
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("handler ran %d times, want 3 (two failures, one success, then a repeat)", n)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "handler panicked") || !strings.Contains(logs.String(), "nil map") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestInProgressConflict proves a repeat that arrives while the first
// delivery's handler runs gets 409 with Retry-After, not a second run.
func TestInProgressConflict(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	_, srv := newReceiver(t, receive.Config{InProgressRetry: 3 * time.Second, Handler: func(context.Context, receive.Event) error {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	}})
	first := make(chan response, 1)
	go func() { first <- deliver(t, srv.URL, "msg_slow", `{}`) }()
	<-started
	r := deliver(t, srv.URL, "msg_slow", `{}`)
	if r.Status != http.StatusConflict || r.Header.Get("Retry-After") != "3" {
		t.Errorf("repeat while running: status %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	close(release)
	if r := <-first; r.Status != 200 {
		t.Errorf("first delivery: status %d", r.Status)
	}
	if r := deliver(t, srv.URL, "msg_slow", `{}`); r.Status != 200 {
		t.Errorf("repeat after completion: status %d", r.Status)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}

// TestConfigErrors proves New refuses an unusable Config.
func TestConfigErrors(t *testing.T) {
	if _, err := receive.New(receive.Config{}); err == nil {
		t.Error("New accepted a Config without Verifier and Handler")
	}
	v := verifier(t)
	h := func(context.Context, receive.Event) error { return nil }
	if _, err := receive.New(receive.Config{Verifier: v, Handler: h, Store: storeOnly{}, Async: &receive.AsyncConfig{}}); err == nil {
		t.Error("New accepted Async with a Store that is not a Queue")
	}
}

// storeOnly is a Store that is not a Queue.
type storeOnly struct{ receive.Store }
