package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// runRaw measures the machine's ceiling: the bench's own client posting
// signed payloads straight to the receiver, no Herald in between.
func runRaw(ctx context.Context, b *bench) ([]benchResult, error) {
	b.rcv.reset()
	key, _ := signing.ParseKey(signing.NewSecret())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.cfg.Clients * 2}}
	var sent atomic.Int64
	deadline := time.Now().Add(b.cfg.RawDuration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < b.cfg.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				n := sent.Add(1)
				payload := benchPayload(b.cfg.PayloadBytes, n)
				now := time.Now()
				id := fmt.Sprintf("msg_raw%d", n)
				sig, _ := key.Sign(id, now, payload)
				req, _ := http.NewRequest("POST", b.rcv.URL+"/ok/raw", bytes.NewReader(payload))
				req.Header.Set("content-type", "application/json")
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
				req.Header.Set("webhook-signature", sig)
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.rawRPS = float64(b.rcv.hits.Load()) / elapsed.Seconds()
	return []benchResult{{Scenario: "raw", Figures: map[string]float64{"requests_per_s": round(b.rawRPS)}}}, nil
}

// flood posts messages to appID from clients goroutines, spread over cs
// (one per node), until until or n messages were accepted (n <= 0: no
// count limit). It returns the number accepted and the first error.
func flood(ctx context.Context, cs []*benchClient, appID string, clients, size int, n int64, until time.Time) (int64, error) {
	var accepted atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		c := cs[w%len(cs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(until) {
				seq := accepted.Add(1)
				if n > 0 && seq > n {
					accepted.Add(-1)
					return
				}
				if err := c.postMessage(ctx, appID, benchPayload(size, seq)); err != nil {
					accepted.Add(-1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return accepted.Load(), err
	}
	return accepted.Load(), nil
}

// runThroughput sends as many messages as the API accepts to one endpoint
// for Duration and measures acceptance and end-to-end delivery rates.
func runThroughput(ctx context.Context, b *bench) ([]benchResult, error) {
	nodes, err := b.cluster(b.cfg.Nodes)
	if err != nil {
		return nil, err
	}
	defer stopAll(nodes)
	cs := make([]*benchClient, len(nodes))
	for i, s := range nodes {
		cs[i] = newBenchClient(s.URL, s.Token, b.cfg.Clients)
	}
	app, err := cs[0].createApp(ctx, "throughput")
	if err == nil {
		_, err = cs[0].createEndpoint(ctx, app, b.rcv.URL+"/ok/throughput")
	}
	if err != nil {
		return nil, err
	}
	rec := b.rcv.reset()
	before := sumStats(nodes)
	start := time.Now()
	n, err := flood(ctx, cs, app, b.cfg.Clients, b.cfg.PayloadBytes, 0, start.Add(b.cfg.Duration))
	sendTime := time.Since(start)
	if err != nil {
		return nil, err
	}
	if err := b.rcv.waitHits(ctx, n, 5*time.Minute); err != nil {
		return nil, err
	}
	deliverTime := time.Duration(b.rcv.last.Load() - start.UnixNano())
	after := sumStats(nodes)
	lat := rec.snapshot()
	f := map[string]float64{
		"messages":        float64(n),
		"accepted_per_s":  round(float64(n) / sendTime.Seconds()),
		"delivered_per_s": round(float64(n) / deliverTime.Seconds()),
		"latency_p50_ms":  ms(percentile(lat, 0.50)),
		"latency_p99_ms":  ms(percentile(lat, 0.99)),
	}
	if nodes[0].cmd != nil { // servers the bench started: their CPU and memory are known
		f["cpu_s_per_1000_msgs"] = round3((after.CPU - before.CPU).Seconds() / float64(n) * 1000)
		f["peak_rss_mib"] = mib(after.PeakRSS)
	}
	if b.rawRPS > 0 {
		f["ratio_to_raw"] = round3(f["delivered_per_s"] / b.rawRPS)
	}
	name := "throughput"
	if len(nodes) > 1 {
		name = fmt.Sprintf("throughput_%d_nodes", len(nodes))
		f["nodes"] = float64(len(nodes))
	}
	return []benchResult{{Scenario: name, Figures: f}}, nil
}

// runLatency sends at fixed open-loop rates and measures the time from the
// start of each API call to the arrival at the receiver.
func runLatency(ctx context.Context, b *bench) ([]benchResult, error) {
	var out []benchResult
	for _, rate := range b.cfg.LatencyRates {
		s, _, err := b.server()
		if err != nil {
			return nil, err
		}
		res, err := latencyAt(ctx, b, s, rate)
		s.stop()
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func latencyAt(ctx context.Context, b *bench, s *benchServer, rate int) (benchResult, error) {
	c := newBenchClient(s.URL, s.Token, 256)
	app, err := c.createApp(ctx, "latency")
	if err == nil {
		_, err = c.createEndpoint(ctx, app, b.rcv.URL+"/ok/latency")
	}
	if err != nil {
		return benchResult{}, err
	}
	rec := b.rcv.reset()
	total := int64(float64(rate) * b.cfg.LatencyDuration.Seconds())
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4096) // bound on calls outstanding
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(seq int64) {
			defer func() { <-sem; wg.Done() }()
			if c.postMessage(ctx, app, benchPayload(b.cfg.PayloadBytes, seq)) != nil {
				failed.Add(1)
			}
		}(i)
	}
	wg.Wait()
	achieved := float64(total) / time.Since(start).Seconds()
	if err := b.rcv.waitHits(ctx, total-failed.Load(), 2*time.Minute); err != nil {
		return benchResult{}, err
	}
	lat := rec.snapshot()
	return benchResult{Scenario: fmt.Sprintf("latency@%d/s", rate), Figures: map[string]float64{
		"achieved_rate": round(achieved), "failed_calls": float64(failed.Load()),
		"p50_ms": ms(percentile(lat, 0.50)), "p90_ms": ms(percentile(lat, 0.90)),
		"p99_ms": ms(percentile(lat, 0.99)), "max_ms": ms(percentile(lat, 1)),
	}}, nil
}

// runFanOut sends messages to an application with k endpoints and
// measures deliveries per second.
func runFanOut(ctx context.Context, b *bench) ([]benchResult, error) {
	var out []benchResult
	for _, k := range b.cfg.FanOut {
		s, _, err := b.server()
		if err != nil {
			return nil, err
		}
		res, err := fanOutTo(ctx, b, s, k)
		s.stop()
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func fanOutTo(ctx context.Context, b *bench, s *benchServer, k int) (benchResult, error) {
	c := newBenchClient(s.URL, s.Token, b.cfg.Clients)
	app, err := c.createApp(ctx, "fanout")
	if err != nil {
		return benchResult{}, err
	}
	for i := 0; i < k; i++ {
		if _, err := c.createEndpoint(ctx, app, fmt.Sprintf("%s/ok/fanout-%d", b.rcv.URL, i)); err != nil {
			return benchResult{}, err
		}
	}
	msgs := int64(max(1, b.cfg.FanOutDeliveries/k))
	b.rcv.reset()
	start := time.Now()
	n, err := flood(ctx, []*benchClient{c}, app, min(b.cfg.Clients, int(msgs)), b.cfg.PayloadBytes, msgs, start.Add(time.Hour))
	if err != nil {
		return benchResult{}, err
	}
	if err := b.rcv.waitHits(ctx, n*int64(k), 5*time.Minute); err != nil {
		return benchResult{}, err
	}
	elapsed := time.Duration(b.rcv.last.Load() - start.UnixNano())
	return benchResult{Scenario: fmt.Sprintf("fan-out to %d", k), Figures: map[string]float64{
		"messages": float64(n), "deliveries": float64(n * int64(k)),
		"deliveries_per_s": round(float64(n*int64(k)) / elapsed.Seconds()),
	}}, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func sortDurations(s []time.Duration) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }
func sortStrings(s []string)          { sort.Strings(s) }
func round(v float64) float64         { return float64(int64(v + 0.5)) }
func round3(v float64) float64        { return float64(int64(v*1000+0.5)) / 1000 }
func ms(d time.Duration) float64      { return round3(float64(d) / float64(time.Millisecond)) }
func mib(b int64) float64             { return round3(float64(b) / (1 << 20)) }
