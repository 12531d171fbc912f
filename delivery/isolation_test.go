package delivery_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
)

func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	slow := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	fast := newReceiver(t, nil)
	e.endpoint(slow.URL, func(ep *herald.Endpoint) { ep.EventTypes = []string{"slow"} })
	e.endpoint(fast.URL, func(ep *herald.Endpoint) { ep.EventTypes = []string{"fast"} })
	e.start(delivery.Config{PerEndpoint: 4, Concurrency: 16})
	for i := 0; i < 40; i++ {
		e.send("slow", `{}`)
	}
	waitFor(t, 3*time.Second, "slow endpoint saturated", func() bool { return len(slow.got()) >= 4 })
	start := time.Now()
	for i := 0; i < 30; i++ {
		e.send("fast", `{}`)
	}
	waitFor(t, 2*time.Second, "fast deliveries", func() bool { return len(fast.got()) == 30 })
	t.Logf("30 fast deliveries in %v while the slow endpoint hangs", time.Since(start))
	if n := slow.maxConcurrent(); n > 4 {
		t.Errorf("slow endpoint saw %d concurrent attempts, bound is 4", n)
	}
}

func TestPerEndpointBound(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { time.Sleep(100 * time.Millisecond) })
	e.endpoint(rc.URL)
	e.start(delivery.Config{PerEndpoint: 3})
	for i := 0; i < 15; i++ {
		e.send("a.b", `{}`)
	}
	waitFor(t, 5*time.Second, "all delivered", func() bool { return len(rc.got()) == 15 })
	if n := rc.maxConcurrent(); n != 3 {
		t.Errorf("max concurrent attempts %d, want exactly the bound 3", n)
	}
}

func TestThrottleRate(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	rate := 5
	e.endpoint(rc.URL, func(ep *herald.Endpoint) { ep.ThrottleRate = &rate })
	e.start(delivery.Config{})
	for i := 0; i < 12; i++ {
		e.send("a.b", `{}`)
	}
	waitFor(t, 10*time.Second, "all delivered", func() bool { return len(rc.got()) == 12 })
	hits := rc.got()
	// One every 200ms: the 12th comes ≥ 2.2s after the first.
	if span := hits[11].at.Sub(hits[0].at); span < 1900*time.Millisecond {
		t.Errorf("12 deliveries at 5/s took %v", span)
	}
	// Any 6 span at least a second at the sender; the receiver sees them
	// with scheduling delays (an earlier one can arrive late on a loaded
	// machine), so allow 300ms: a throttle twice too fast would still
	// fail, as would none at all.
	for i := 5; i < len(hits); i++ {
		if w := hits[i].at.Sub(hits[i-5].at); w < 700*time.Millisecond {
			t.Errorf("6 deliveries within %v (rate 5/s)", w)
		}
	}
}

func TestRescueOnStartAndBoundedStop(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	ep := e.endpoint(rc.URL)
	m := e.send("a.b", `{}`)
	// A previous process claimed it and died.
	now := time.Now()
	jobs, err := e.store.DeliveryClaim(e.ctx, herald.ClaimParams{Now: now, Limit: 10, LeaseUntil: now.Add(time.Hour)})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %d", err, len(jobs))
	}
	e.start(delivery.Config{RescueOnStart: true})
	waitFor(t, 5*time.Second, "rescued delivery", func() bool { return e.deliveryStatus(m.ID, ep.ID) == herald.StatusSuccess })

	// Stop returns within its bound while an attempt hangs, records
	// nothing for it, and is safe twice.
	hang := make(chan struct{})
	defer close(hang)
	rc2 := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	e2 := newEnv(t)
	ep2 := e2.endpoint(rc2.URL)
	eng := delivery.New(delivery.Config{HTTPClient: http.DefaultClient, PollInterval: 50 * time.Millisecond}, e2.store)
	if err := eng.Start(e2.ctx); err != nil {
		t.Fatal(err)
	}
	m2 := e2.send("a.b", `{}`)
	waitFor(t, 5*time.Second, "attempt in flight", func() bool { return len(rc2.got()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	eng.Stop(ctx)
	eng.Stop(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v with a 200ms bound", d)
	}
	if a := e2.attempts(m2.ID); len(a) != 0 {
		t.Errorf("aborted attempt was recorded: %+v", a)
	}
	if s := e2.deliveryStatus(m2.ID, ep2.ID); s != herald.StatusSending {
		t.Errorf("aborted delivery status %v, want sending (lease left for rescue)", s)
	}
}
