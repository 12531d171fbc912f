package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestThreeNodesOnPostgres starts three herald processes at once on one
// PostgreSQL schema (so their migrations race), sends messages through
// all three APIs, and checks that each message is delivered exactly once:
// the nodes share one queue and never send the same delivery twice in the
// normal case.
func TestThreeNodesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three real processes")
	}
	url := postgresURL(t)
	schema := testSchema(t, url)
	bin := buildHerald(t)
	var logs syncBuffer

	var mu sync.Mutex
	seen := map[string]int{}
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(204)
	})

	nodes := make([]*benchServer, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := startServeProcess(bin, t.TempDir(), []string{
				"HERALD_ADMIN_TOKEN=" + testToken, "HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + schema,
				"HERALD_RETRY_SCHEDULE=200ms,400ms", "HERALD_RETRY_JITTER=0",
			}, &logs)
			if err != nil {
				t.Errorf("node %d: %v", i, err)
				return
			}
			nodes[i] = p
		}()
	}
	wg.Wait()
	for _, p := range nodes {
		if p != nil {
			defer p.stop()
		}
	}
	if t.Failed() {
		t.Fatalf("nodes did not start:\n%s", logs.String())
	}

	post := func(base, path string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := post(nodes[0].URL, "/api/v1/app", map[string]any{"name": "cluster", "uid": "cluster"}); code != 201 {
		t.Fatalf("create app: %d", code)
	}
	if code, _ := post(nodes[1].URL, "/api/v1/app/cluster/endpoint", map[string]any{"url": rc.URL}); code != 201 {
		t.Fatalf("create endpoint: %d", code)
	}

	const perClient, clients = 100, 6
	ids := make(chan string, perClient*clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[c%len(nodes)]
			for i := range perClient {
				code, m := post(node.URL, "/api/v1/app/cluster/msg", map[string]any{"eventType": "cluster.test", "payload": map[string]any{"c": c, "i": i}})
				if code != 202 {
					t.Errorf("message via %s: %d %v", node.URL, code, m)
					return
				}
				ids <- str(m, "id")
			}
		}()
	}
	wg.Wait()
	close(ids)
	var accepted []string
	for id := range ids {
		accepted = append(accepted, id)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d messages delivered", len(accepted)), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range accepted {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond) // a duplicate would show up by now
	mu.Lock()
	defer mu.Unlock()
	for _, id := range accepted {
		if seen[id] != 1 {
			t.Errorf("message %s delivered %d times, want exactly once", id, seen[id])
		}
	}
	if len(seen) != len(accepted) {
		t.Errorf("receiver saw %d messages, %d were sent", len(seen), len(accepted))
	}
	for _, p := range nodes {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
}
