package receive_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/receive"
)

// queues returns a memory queue and, per SQL backend, a function making a
// new SQLStore on the shared database (as another process would).
func queues(t *testing.T) map[string]func(t *testing.T) receive.Queue {
	out := map[string]func(t *testing.T) receive.Queue{}
	mem := receive.NewMemoryStore(receive.MemoryConfig{})
	out["memory"] = func(*testing.T) receive.Queue { return mem }
	for _, b := range sqlBackends(t) {
		out[b.name] = func(t *testing.T) receive.Queue { return b.store(t, receive.SQLConfig{}) }
	}
	return out
}

// startAsync makes a started asynchronous receiver; it is stopped at the
// end of the test.
func startAsync(t *testing.T, q receive.Queue, a receive.AsyncConfig, h receive.HandlerFunc) (*receive.Receiver, string) {
	t.Helper()
	r, srv := newReceiver(t, receive.Config{Store: q, Async: &a, Handler: h})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	return r, srv.URL
}

// TestAsyncAcksFirst proves the asynchronous mode answers 202 before the
// handler has finished, runs it in the background with the verified body,
// answers a repeat 200 without running it again, and that Stop waits for a
// running handler.
func TestAsyncAcksFirst(t *testing.T) {
	for name, newQueue := range queues(t) {
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			var finished atomic.Bool
			var got atomic.Value
			r, url := startAsync(t, newQueue(t), receive.AsyncConfig{}, func(_ context.Context, ev receive.Event) error {
				got.Store(ev)
				<-release
				finished.Store(true)
				return nil
			})
			if resp := deliver(t, url, "msg_async", `{"slow":true}`); resp.Status != 202 {
				t.Fatalf("status %d, want 202", resp.Status)
			}
			if finished.Load() {
				t.Fatal("handler finished before the answer")
			}
			waitFor(t, 10*time.Second, "handler to start", func() bool { return got.Load() != nil })
			ev := got.Load().(receive.Event)
			if ev.ID != "msg_async" || string(ev.Body) != `{"slow":true}` || ev.Attempt != 1 || ev.Header.Get("webhook-id") != "msg_async" {
				t.Errorf("event %+v", ev)
			}
			if resp := deliver(t, url, "msg_async", `{"slow":true}`); resp.Status != 200 {
				t.Errorf("repeat while running: status %d, want 200", resp.Status)
			}
			close(release)
			if err := r.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !finished.Load() {
				t.Error("Stop returned before the running handler")
			}
			if resp := deliver(t, url, "msg_async", `{"slow":true}`); resp.Status != 200 {
				t.Errorf("repeat after completion: status %d, want 200", resp.Status)
			}
		})
	}
}

// TestAsyncRetries proves a failing event is retried with backoff until it
// succeeds, and given up after MaxAttempts.
func TestAsyncRetries(t *testing.T) {
	for name, newQueue := range queues(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			attempts := map[string][]int{}
			q := newQueue(t)
			_, u := startAsync(t, q, receive.AsyncConfig{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond},
				func(_ context.Context, ev receive.Event) error {
					mu.Lock()
					defer mu.Unlock()
					attempts[ev.ID] = append(attempts[ev.ID], ev.Attempt)
					if ev.ID == "msg_never" || ev.Attempt < 3 {
						return fmt.Errorf("attempt %d fails", ev.Attempt)
					}
					return nil
				})
			for _, id := range []string{"msg_third_time", "msg_never"} {
				if resp := deliver(t, u, id, `{}`); resp.Status != 202 {
					t.Fatalf("%s: status %d", id, resp.Status)
				}
			}
			ctx := context.Background()
			for _, id := range []string{"msg_third_time", "msg_never"} {
				waitFor(t, 10*time.Second, id+" finished", func() bool {
					res, err := q.Claim(ctx, id, "probe", time.Now())
					return err == nil && res == receive.Completed
				})
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range []string{"msg_third_time", "msg_never"} {
				if fmt.Sprint(attempts[id]) != "[1 2 3]" {
					t.Errorf("%s: attempts %v, want [1 2 3]", id, attempts[id])
				}
			}
		})
	}
}

// TestAsyncSurvivesRestart proves events acknowledged by a receiver that
// stopped before processing them, and an event whose worker died holding
// it, are processed by a receiver started later on the same SQL database.
func TestAsyncSurvivesRestart(t *testing.T) {
	for _, b := range sqlBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			h := func(context.Context, receive.Event) error { return errors.New("never started") }
			_, srvA := newReceiver(t, receive.Config{Store: b.store(t, receive.SQLConfig{}), Async: &receive.AsyncConfig{}, Handler: h})
			for i := range 3 {
				if resp := deliver(t, srvA.URL, fmt.Sprintf("msg_left_%d", i), fmt.Sprintf(`{"n":%d}`, i)); resp.Status != 202 {
					t.Fatalf("status %d", resp.Status)
				}
			}
			srvA.Close() // the process stops; nothing was processed
			// A worker of another process claimed msg_left_0 and died; its
			// lease has run out.
			dead := b.store(t, receive.SQLConfig{})
			if jobs, err := dead.ClaimDue(context.Background(), "dead-worker", time.Now(), 1); err != nil || len(jobs) != 1 {
				t.Fatalf("dead worker's claim: %v, %v", jobs, err)
			}

			var mu sync.Mutex
			got := map[string]receive.Event{}
			startAsync(t, b.store(t, receive.SQLConfig{}), receive.AsyncConfig{PollInterval: 20 * time.Millisecond}, func(_ context.Context, ev receive.Event) error {
				mu.Lock()
				defer mu.Unlock()
				got[ev.ID] = ev
				return nil
			})
			waitFor(t, 10*time.Second, "the left events", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == 3
			})
			mu.Lock()
			defer mu.Unlock()
			for i := range 3 {
				ev := got[fmt.Sprintf("msg_left_%d", i)]
				if string(ev.Body) != fmt.Sprintf(`{"n":%d}`, i) || ev.Header.Get("webhook-id") != ev.ID {
					t.Errorf("event %d: %+v", i, ev)
				}
			}
			if a := got["msg_left_0"].Attempt; a != 2 {
				t.Errorf("the dead worker's event ran as attempt %d, want 2", a)
			}
		})
	}
}
