package main

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestEndpointLimitsHoldAcrossNodes runs two nodes on one PostgreSQL
// schema and checks that an endpoint's in-flight bound and throttle rate
// hold for both together: each node alone would allow as much again.
func TestEndpointLimitsHoldAcrossNodes(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	env := []string{"HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + schema, "HERALD_ENDPOINT_CONCURRENCY=4"}
	nodes := []*testServer{startServer(t, env...), startServer(t, env...)}

	slow := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	var (
		mu       sync.Mutex
		arrivals []time.Time
	)
	paced := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	app := nodes[0].createApp(t, "limits")
	nodes[0].createEndpoint(t, app, map[string]any{"url": slow.URL, "eventTypes": []string{"slow.event"}})
	const rate = 5
	nodes[0].createEndpoint(t, app, map[string]any{"url": paced.URL, "eventTypes": []string{"paced.event"}, "throttleRate": rate})

	const perEndpoint = 30
	var wg sync.WaitGroup
	for i := range perEndpoint {
		for _, event := range []string{"slow.event", "paced.event"} {
			wg.Go(func() {
				nodes[i%2].send(t, app, map[string]any{"eventType": event, "payload": map[string]any{"n": i}})
			})
		}
	}
	wg.Wait()
	waitFor(t, 60*time.Second, "every delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(slow.requests()) == perEndpoint && len(arrivals) == perEndpoint
	})

	slow.mu.Lock()
	maxIn := slow.maxIn
	slow.mu.Unlock()
	if maxIn > 4 {
		t.Errorf("the slow endpoint had %d attempts in flight at once, want at most HERALD_ENDPOINT_CONCURRENCY=4 across both nodes", maxIn)
	}
	t.Logf("slow endpoint: at most %d attempts in flight (bound 4 for both nodes)", maxIn)

	// At 5 per second across both nodes, 30 attempts take 29 turns of
	// 200 ms. The first may start late by a claim's time, so allow a
	// little less; each node pacing on its own would take half as long.
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	span := arrivals[len(arrivals)-1].Sub(arrivals[0])
	want := time.Duration(len(arrivals)-1) * time.Second / rate
	if span < want*85/100 {
		t.Errorf("%d attempts to the endpoint throttled at %d/s took %v; across both nodes they need about %v", len(arrivals), rate, span, want)
	}
	t.Logf("throttled endpoint: %d attempts at %d/s took %v (turns: %v)", len(arrivals), rate, span.Round(time.Millisecond), want)
}
