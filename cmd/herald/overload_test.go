package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// burstSize is how many requests TestBurstGetsBackPressure sends at once.
const burstSize = 5000

// TestBurstGetsBackPressure sends a burst of 5,000 small message creations
// at once (over up to 1,000 connections opened together), far above
// HERALD_API_MAX_INFLIGHT (32), to a real `herald serve`:
// the requests beyond the bound are answered 503 with Retry-After and the
// Svix error body (and counted in herald_api_rejected_total), no other
// 5xx appears, every message answered 202 is stored and delivered, the
// heap stays bounded throughout, and the server answers normally right
// after.
func TestBurstGetsBackPressure(t *testing.T) {
	rc := newReceiver(t, nil)
	s := startServer(t, "HERALD_API_MAX_INFLIGHT=32")
	appID := s.createApp(t, "burst")
	s.createEndpoint(t, appID, map[string]any{"url": rc.URL})

	conns := burstConns(t)
	client := &http.Client{
		Timeout:   45 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns},
	}
	defer client.CloseIdleConnections()
	heap := watchHeap()

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		accepted []string
		problems []string
		failed   atomic.Int64
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range burstSize {
		wg.Go(func() {
			<-start
			st, body, retryAfter, err := postMessage(client, s.URL, appID, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(1)
				if len(problems) < 5 {
					problems = append(problems, err.Error())
				}
				return
			}
			statuses[st]++
			switch st {
			case 202:
				accepted = append(accepted, str(body, "id"))
			case 503:
				if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 || str(body, "code") == "" || str(body, "detail") == "" {
					problems = append(problems, fmt.Sprintf("503 with Retry-After %q and body %v", retryAfter, body))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	peak := heap.stop()
	t.Logf("burst of %d over %d connections: statuses %v, transport errors %d, peak heap in use %d MiB",
		burstSize, conns, statuses, failed.Load(), peak>>20)

	if failed.Load() > 0 {
		t.Errorf("%d requests failed without an answer: %v\nserver log: %s", failed.Load(), problems, s.stderr.String())
	} else if len(problems) > 0 {
		t.Errorf("bad 503 answers: %v", problems)
	}
	for st, n := range statuses {
		if st != 202 && st != 503 {
			t.Errorf("%d answers with status %d; only 202 and 503 are expected", n, st)
		}
	}
	if statuses[503] == 0 {
		t.Errorf("no request was refused: the in-flight bound did not act")
	}
	if statuses[202] == 0 {
		t.Errorf("no request was accepted during the burst")
	}
	const heapBound = 512 << 20
	if peak > heapBound {
		t.Errorf("peak heap in use %d MiB, want under %d MiB", peak>>20, heapBound>>20)
	}

	// Right after: normal answers, and the refusals are counted.
	s.must(t, 200, "GET", "/api/v1/app/"+appID, nil)
	accepted = append(accepted, s.send(t, appID, map[string]any{"eventType": "burst.after", "payload": map[string]any{}}))
	if got := sumOf(scrape(t, s.URL+"/metrics"), "herald_api_rejected_total", map[string]string{"reason": "overloaded"}); got < float64(statuses[503]) {
		t.Errorf("herald_api_rejected_total{reason=overloaded} = %v, want at least the %d refusals", got, statuses[503])
	}
	// Every accepted message was stored: each is delivered.
	waitFor(t, 45*time.Second, "every accepted message to be delivered", func() bool {
		got := map[string]bool{}
		for _, r := range rc.requests() {
			got[r.Header.Get("webhook-id")] = true
		}
		for _, id := range accepted {
			if !got[id] {
				return false
			}
		}
		return true
	})
}

// maxBurstConns bounds the connections the burst opens at once: with
// more, on a slow machine (2 cores, the race detector) the client's own
// goroutines may not write their request within the server's 10s header
// timeout, which then rightly closes the connection, and the test would
// measure the machine instead of Herald.
const maxBurstConns = 1000

// burstConns is how many connections the burst may open at once:
// maxBurstConns, unless the process's file limit (which client and server
// share here) is too low for that.
func burstConns(t *testing.T) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 512
	}
	n := min(maxBurstConns, (int(lim.Cur)-512)/2)
	if n < 64 {
		t.Skipf("file limit %d too low for a burst", lim.Cur)
	}
	return n
}

// postMessage creates message i, returning the status, the decoded body
// and the Retry-After header.
func postMessage(client *http.Client, url, appID string, i int) (int, map[string]any, string, error) {
	b, _ := json.Marshal(map[string]any{"eventType": "burst.test", "payload": map[string]any{"i": i}})
	req, _ := http.NewRequest("POST", url+"/api/v1/app/"+appID+"/msg", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, nil, "", fmt.Errorf("status %d: body %q is not JSON", resp.StatusCode, raw)
	}
	return resp.StatusCode, m, resp.Header.Get("Retry-After"), nil
}

// heapWatch samples the heap in use until stopped.
type heapWatch struct {
	peak atomic.Uint64
	done chan struct{}
	wg   sync.WaitGroup
}

// watchHeap samples runtime.MemStats.HeapInuse every 50ms.
func watchHeap() *heapWatch {
	h := &heapWatch{done: make(chan struct{})}
	h.wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.done:
				return
			case <-tick.C:
			}
		}
	})
	return h
}

// stop ends the sampling and returns the peak.
func (h *heapWatch) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak.Load()
}
