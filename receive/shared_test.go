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

// TestOnceAcrossInstances proves one delivery repeated 10 times at once,
// split over two receiver instances (two HTTP servers, two *sql.DB) that
// share one SQL store, runs the handler exactly once, and that the repeats
// get 200 (done) or 409 (still running), never a second run.
func TestOnceAcrossInstances(t *testing.T) {
	for _, b := range sqlBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			var runs atomic.Int32
			handler := func(context.Context, receive.Event) error {
				runs.Add(1)
				time.Sleep(50 * time.Millisecond) // a handler with some work to do, widening the race
				return nil
			}
			_, srvA := newReceiver(t, receive.Config{Store: b.store(t, receive.SQLConfig{}), Handler: handler})
			_, srvB := newReceiver(t, receive.Config{Store: b.store(t, receive.SQLConfig{}), Handler: handler})
			for round := range 3 {
				id := fmt.Sprintf("msg_concurrent_%d", round)
				runs.Store(0)
				statuses := make(chan int, 10)
				var wg sync.WaitGroup
				for i := range 10 {
					url := srvA.URL
					if i%2 == 1 {
						url = srvB.URL
					}
					wg.Go(func() { statuses <- deliver(t, url, id, `{"n":1}`).Status })
				}
				wg.Wait()
				close(statuses)
				ok := 0
				for s := range statuses {
					switch s {
					case 200:
						ok++
					case 409:
					default:
						t.Errorf("round %d: status %d", round, s)
					}
				}
				if n := runs.Load(); n != 1 {
					t.Fatalf("round %d: handler ran %d times, want 1", round, n)
				}
				if ok == 0 {
					t.Errorf("round %d: no delivery answered 200", round)
				}
				if r := deliver(t, srvB.URL, id, `{"n":1}`); r.Status != 200 || runs.Load() != 1 {
					t.Errorf("round %d: repeat after completion: %d, runs %d", round, r.Status, runs.Load())
				}
			}
		})
	}
}

// TestRetryAcrossInstances proves a failing handler's event is processed on
// the sender's retry, even when the retry reaches the other instance.
func TestRetryAcrossInstances(t *testing.T) {
	for _, b := range sqlBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			var runs atomic.Int32
			handler := func(context.Context, receive.Event) error {
				if runs.Add(1) == 1 {
					return errors.New("first run fails")
				}
				return nil
			}
			_, srvA := newReceiver(t, receive.Config{Store: b.store(t, receive.SQLConfig{}), Handler: handler})
			_, srvB := newReceiver(t, receive.Config{Store: b.store(t, receive.SQLConfig{}), Handler: handler})
			if r := deliver(t, srvA.URL, "msg_retry", `{}`); r.Status != 500 {
				t.Fatalf("first delivery: %d", r.Status)
			}
			if r := deliver(t, srvB.URL, "msg_retry", `{}`); r.Status != 200 {
				t.Fatalf("retry: %d", r.Status)
			}
			if r := deliver(t, srvA.URL, "msg_retry", `{}`); r.Status != 200 {
				t.Fatalf("repeat: %d", r.Status)
			}
			if n := runs.Load(); n != 2 {
				t.Errorf("handler ran %d times, want 2", n)
			}
		})
	}
}

// TestStoreContract checks the Store contract directly on every store:
// claim, in progress, lease takeover, a stale token's release, completion
// and expiry after the retention.
func TestStoreContract(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	stores := map[string]receive.Store{"memory": receive.NewMemoryStore(receive.MemoryConfig{Now: clock, Retention: time.Hour})}
	for _, b := range sqlBackends(t) {
		stores[b.name] = b.store(t, receive.SQLConfig{Now: clock, Retention: time.Hour})
	}
	ctx := context.Background()
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			now = time.Unix(1_800_000_000, 0)
			claim := func(token string, want receive.ClaimResult) {
				t.Helper()
				got, err := s.Claim(ctx, "evt_1", token, now.Add(time.Minute))
				if err != nil || got != want {
					t.Fatalf("Claim(%s) = %v, %v; want %v", token, got, err, want)
				}
			}
			claim("a", receive.Claimed)
			claim("b", receive.InProgress)
			now = now.Add(2 * time.Minute) // a's lease expired: its process died
			claim("b", receive.Claimed)
			if err := s.Release(ctx, "evt_1", "a"); err != nil { // a's late release must not free b's claim
				t.Fatal(err)
			}
			claim("c", receive.InProgress)
			if err := s.Release(ctx, "evt_1", "b"); err != nil {
				t.Fatal(err)
			}
			claim("c", receive.Claimed)
			if err := s.Complete(ctx, "evt_1"); err != nil {
				t.Fatal(err)
			}
			now = now.Add(10 * time.Minute) // far past any lease
			claim("d", receive.Completed)
			now = now.Add(time.Hour) // past the retention: forgotten
			claim("e", receive.Claimed)
		})
	}
}
