package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildHerald compiles the herald binary into a temp dir.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess starts the binary on dataDir with a short retry schedule
// and waits until it listens.
func startProcess(t *testing.T, bin, dataDir string, logs io.Writer) *benchServer {
	t.Helper()
	p, err := startServeProcess(bin, dataDir, []string{
		"HERALD_ADMIN_TOKEN=" + testToken,
		"HERALD_RETRY_SCHEDULE=200ms,400ms,800ms,1s,1s,1s,1s,1s",
		"HERALD_RETRY_JITTER=0",
		"HERALD_REQUEST_TIMEOUT=5s",
	}, logs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCrashLosesNothing kills a real herald process with SIGKILL while
// deliveries are pending and in flight, ten times, at random moments,
// restarting it on the same data dir each time, and shows that the
// database passes SQLite's integrity check after every kill and that every
// message the API accepted (202) is delivered. Duplicates are allowed only
// for attempts in flight at a kill: a message received twice must have
// been first received just before a kill. Their number is logged.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin := buildHerald(t)
	dataDir := t.TempDir()
	var logs syncBuffer

	var mu sync.Mutex
	seen := map[string][]time.Time{} // arrivals of each message's successful requests
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		id, arrived := r.Header.Get("webhook-id"), time.Now()
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		if rand.IntN(5) == 0 { // some deliveries must wait for a retry
			w.WriteHeader(503)
			return
		}
		mu.Lock()
		seen[id] = append(seen[id], arrived)
		mu.Unlock()
		w.WriteHeader(204)
	})

	p := startProcess(t, bin, dataDir, &logs)
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(url, path string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	_, app := post(p.URL, "/api/v1/app", map[string]any{"name": "crash", "uid": "crash"})
	if code, _ := post(p.URL, "/api/v1/app/crash/endpoint", map[string]any{"url": rc.URL}); code != 201 {
		t.Fatalf("create endpoint: %d", code)
	}
	if str(app, "id") == "" {
		t.Fatal("create app failed")
	}

	var accepted []string
	const cycles = 10
	var kills []time.Time
	for cycle := 0; cycle < cycles; cycle++ {
		// Send under load from several clients, then kill mid-flight.
		var wg sync.WaitGroup
		var amu sync.Mutex
		stop := make(chan struct{})
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					code, m := post(p.URL, "/api/v1/app/crash/msg", map[string]any{"eventType": "crash.test", "payload": map[string]any{"cycle": cycle, "i": i}})
					if code == 202 {
						amu.Lock()
						accepted = append(accepted, str(m, "id"))
						amu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(400)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		kills = append(kills, time.Now()) // dead for sure once reaped
		close(stop)
		wg.Wait()
		checkIntegrity(t, filepath.Join(dataDir, "herald.db"), false)
		p = startProcess(t, bin, dataDir, &logs)
	}

	waitFor(t, 60*time.Second, fmt.Sprintf("all %d accepted messages delivered", len(accepted)), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range accepted {
			if len(seen[id]) == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	dups := 0
	for _, id := range accepted {
		got := seen[id]
		dups += len(got) - 1
		if len(got) > 1 && !justBeforeAKill(got[0], kills) {
			t.Errorf("message %s received at %v, the first not just before a kill (kills at %v)",
				id, stamps(got), stamps(kills))
		}
	}
	mu.Unlock()
	t.Logf("%d kill cycles: %d messages accepted, all delivered; %d duplicate deliveries (attempts in flight at a kill)", cycles, len(accepted), dups)

	// A clean stop: SIGTERM ends the process with status 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("SIGTERM exit: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("herald did not exit within 20s of SIGTERM")
	}
	checkIntegrity(t, filepath.Join(dataDir, "herald.db"), true)
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("server logs mention a panic:\n%s", logs.String())
	}
}

// stamps formats times to the millisecond.
func stamps(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format("15:04:05.000")
	}
	return out
}

// justBeforeAKill reports whether a request that arrived at at was sent
// in the 2 seconds before one of kills (when the killed process was
// reaped): its attempt may not have been recorded by the time the process
// died. A request the process wrote just before dying may reach the
// receiver's handler a little after: 100ms of slack.
func justBeforeAKill(at time.Time, kills []time.Time) bool {
	for _, k := range kills {
		if d := k.Sub(at); d > -100*time.Millisecond && d < 2*time.Second {
			return true
		}
	}
	return false
}

// checkIntegrity runs SQLite's integrity check on the database file,
// read-only or, after a crash, read-write so that SQLite first recovers
// the write-ahead log as the next start would.
func checkIntegrity(t *testing.T, path string, readOnly bool) {
	t.Helper()
	dsn := "file:" + path
	if readOnly {
		dsn += "?mode=ro"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity check: %q %v", res, err)
	}
}
