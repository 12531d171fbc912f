package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestReceiver runs the program with a SQLite store, posts a signed event
// twice and a forged one, and checks it printed the event once.
func TestReceiver(t *testing.T) {
	secret := signing.NewSecret()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	args := []string{"receiver", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "r.db")}
	getenv := func(k string) string {
		if k == "HERALD_WEBHOOK_SECRET" {
			return secret
		}
		return ""
	}
	go func() { done <- run(ctx, args, getenv, &stdout, &stderr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	listening := regexp.MustCompile(`at (http://\S+)`)
	var url string
	deadline := time.Now().Add(10 * time.Second)
	for url == "" {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("not listening; stderr: %s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	key, _ := signing.ParseKey(secret)
	post := func(sig string) int {
		now := time.Now()
		if sig == "" {
			sig, _ = key.Sign("msg_example", now, []byte(`{"ok":true}`))
		}
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"ok":true}`))
		req.Header.Set("webhook-id", "msg_example")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b, c := post(""), post(""), post("v1,Zm9yZ2Vk"); a != 200 || b != 200 || c != 401 {
		t.Errorf("statuses %d %d %d, want 200 200 401", a, b, c)
	}
	if n := strings.Count(stdout.String(), `event msg_example (attempt 1): {"ok":true}`); n != 1 {
		t.Errorf("event printed %d times:\n%s", n, stdout.String())
	}
}
