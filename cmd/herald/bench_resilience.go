package main

import (
	"context"
	"fmt"
	"time"
)

// runIsolation measures healthy endpoints' throughput and p99 latency
// beside endpoints that hang until the request timeout, against the same
// run without the hanging ones.
func runIsolation(ctx context.Context, b *bench) ([]benchResult, error) {
	healthy := b.cfg.IsolationTotal - b.cfg.IsolationHanging
	base, err := isolationRun(ctx, b, healthy, 0)
	if err != nil {
		return nil, err
	}
	mixed, err := isolationRun(ctx, b, healthy, b.cfg.IsolationHanging)
	if err != nil {
		return nil, err
	}
	f := map[string]float64{
		"healthy_per_s_alone":       base[0],
		"healthy_p99_ms_alone":      base[1],
		"healthy_per_s_with_hangs":  mixed[0],
		"healthy_p99_ms_with_hangs": mixed[1],
	}
	if base[0] > 0 && base[1] > 0 {
		f["throughput_kept"] = round3(mixed[0] / base[0])
		f["p99_ratio"] = round3(mixed[1] / base[1])
	}
	note := fmt.Sprintf("%d healthy endpoints, %d hanging for %s each", healthy, b.cfg.IsolationHanging, b.cfg.IsolationTimeout)
	return []benchResult{{Scenario: "isolation", Figures: f, Notes: note}}, nil
}

// isolationRun returns healthy deliveries per second and their p99 in ms.
func isolationRun(ctx context.Context, b *bench, healthy, hanging int) ([2]float64, error) {
	s, _, err := b.server("HERALD_REQUEST_TIMEOUT="+b.cfg.IsolationTimeout.String(), "HERALD_RETRY_SCHEDULE=1h")
	if err != nil {
		return [2]float64{}, err
	}
	defer s.stop()
	c := newBenchClient(s.URL, s.Token, b.cfg.Clients)
	app, err := c.createApp(ctx, "isolation")
	if err != nil {
		return [2]float64{}, err
	}
	for i := 0; i < healthy+hanging; i++ {
		path := fmt.Sprintf("/ok/iso-%d", i)
		if i >= healthy {
			path = fmt.Sprintf("/hang/iso-%d", i)
		}
		if _, err := c.createEndpoint(ctx, app, b.rcv.URL+path); err != nil {
			return [2]float64{}, err
		}
	}
	// Both runs send the same messages: the one with hanging endpoints
	// differs only by them.
	msgs := int64(max(1, b.cfg.FanOutDeliveries/b.cfg.IsolationTotal))
	rec := b.rcv.reset()
	start := time.Now()
	n, err := flood(ctx, []*benchClient{c}, app, min(b.cfg.Clients, int(msgs)), b.cfg.PayloadBytes, msgs, start.Add(time.Hour))
	if err != nil {
		return [2]float64{}, err
	}
	want := n * int64(healthy)
	if err := b.rcv.waitHits(ctx, want, 5*time.Minute); err != nil {
		return [2]float64{}, err
	}
	elapsed := time.Duration(b.rcv.last.Load() - start.UnixNano())
	return [2]float64{round(float64(want) / elapsed.Seconds()), ms(percentile(rec.snapshot(), 0.99))}, nil
}

// runBacklog lets deliveries pile up while no worker runs (an API-only
// node), then starts a full node on the same data and measures its start
// time, memory while the backlog waits and the drain rate. It also reports
// an idle server's memory.
func runBacklog(ctx context.Context, b *bench) ([]benchResult, error) {
	idle, err := idleRSS(b)
	if err != nil {
		return nil, err
	}
	api, dir, err := b.server("HERALD_ROLE=api")
	if err != nil {
		return nil, err
	}
	c := newBenchClient(api.URL, api.Token, b.cfg.Clients)
	app, err := c.createApp(ctx, "backlog")
	if err == nil {
		_, err = c.createEndpoint(ctx, app, b.rcv.URL+"/ok/backlog")
	}
	if err != nil {
		api.stop()
		return nil, err
	}
	n, err := flood(ctx, []*benchClient{c}, app, b.cfg.Clients, b.cfg.PayloadBytes, int64(b.cfg.Backlog), time.Now().Add(time.Hour))
	api.stop()
	if err != nil {
		return nil, err
	}
	b.rcv.reset()
	env := append(append(b.storeEnv(b.runs), b.cfg.ServerEnv...), "HERALD_ADMIN_TOKEN="+api.Token)
	full, err := startServeProcess(b.cfg.ServerBinary, dir, env, b.logs)
	if err != nil {
		return nil, err
	}
	defer full.stop()
	ready := time.Since(full.start)
	var peak int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				peak = max(peak, full.stats().RSS)
			}
		}
	}()
	err = b.rcv.waitHits(ctx, n, 30*time.Minute)
	close(stop)
	if err != nil {
		return nil, err
	}
	elapsed := time.Duration(b.rcv.last.Load()) - time.Duration(full.start.UnixNano())
	return []benchResult{{Scenario: "backlog", Figures: map[string]float64{
		"pending_deliveries": float64(n), "ready_after_start_ms": ms(ready),
		"drain_per_s": round(float64(n) / elapsed.Seconds()), "peak_rss_mib": mib(max(peak, full.stats().PeakRSS)),
		"idle_rss_mib": idle,
	}}}, nil
}

// idleRSS starts a fresh server, lets it settle and reads its memory.
func idleRSS(b *bench) (float64, error) {
	s, _, err := b.server()
	if err != nil {
		return 0, err
	}
	defer s.stop()
	time.Sleep(2 * time.Second)
	return mib(s.stats().RSS), nil
}
