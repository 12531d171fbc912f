package hostile_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/testutil/hostile"
)

func post(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	return c.Post(url, "application/json", strings.NewReader(`{"a":1}`))
}

// TestModes checks that each receiver misbehaves as documented, seen
// from a plain net/http client.
func TestModes(t *testing.T) {
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	short := &http.Client{Timeout: 300 * time.Millisecond}

	t.Run("status", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Status, Code: 429, Header: http.Header{"Retry-After": {"7"}}})
		for range 2 { // the connection is kept alive between answers
			resp, err := post(t, noRedirect, r.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || string(body) != "status 429" {
				t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, body)
			}
		}
		if r.Requests() != 2 || len(r.RequestTimes()) != 2 {
			t.Errorf("requests %d, want 2", r.Requests())
		}
	})
	t.Run("redirect", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Redirect, Location: "http://10.0.0.1/x"})
		resp, err := post(t, noRedirect, r.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://10.0.0.1/x" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("hang", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Hang})
		if _, err := post(t, short, r.URL); err == nil || !isTimeout(err) {
			t.Fatalf("err %v, want a timeout", err)
		}
		if r.Requests() != 1 {
			t.Errorf("requests %d, want 1 read in full", r.Requests())
		}
	})
	t.Run("slow headers", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.SlowHeaders, Interval: 10 * time.Millisecond})
		if _, err := post(t, short, r.URL); err == nil || !isTimeout(err) {
			t.Fatalf("err %v, want a timeout", err)
		}
	})
	t.Run("trickle", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Trickle, Interval: 10 * time.Millisecond, Size: 5})
		resp, err := post(t, noRedirect, r.URL)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "xxxxx" || time.Since(start) < 30*time.Millisecond {
			t.Fatalf("body %q err %v after %v, want 5 bytes trickled", body, err, time.Since(start))
		}
	})
	t.Run("huge", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Huge})
		resp, err := post(t, noRedirect, r.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != 100<<20 {
			t.Errorf("content length %d, want 100 MiB", resp.ContentLength)
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if n != 1<<20 {
			t.Errorf("read %d bytes, want 1 MiB", n)
		}
	})
	t.Run("reset", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Reset})
		resp, err := post(t, noRedirect, r.URL)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("err %v, want connection reset", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		r := hostile.Start(t, hostile.Config{Mode: hostile.Garbage})
		if _, err := post(t, noRedirect, r.URL); err == nil || !strings.Contains(err.Error(), "malformed HTTP") {
			t.Fatalf("err %v, want a malformed response", err)
		}
	})
}

func TestURLWithHostAndClose(t *testing.T) {
	r, err := hostile.New(hostile.Config{Mode: hostile.Hang})
	if err != nil {
		t.Fatal(err)
	}
	u := r.URLWithHost("example.internal")
	if !strings.HasPrefix(u, "http://example.internal:") || !strings.HasSuffix(u, "/hook") || strings.TrimPrefix(r.URL, "http://127.0.0.1") != strings.TrimPrefix(u, "http://example.internal") {
		t.Errorf("URLWithHost = %q for %q", u, r.URL)
	}
	done := make(chan error, 1)
	go func() { _, err := post(t, &http.Client{}, r.URL); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for r.Open() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.Close() // ends the held connection
	r.Close()
	if err := <-done; err == nil {
		t.Errorf("a hanging request ended without an error at Close")
	}
	if r.Open() != 0 {
		t.Errorf("%d connections open after Close", r.Open())
	}
	if _, err := hostile.New(hostile.Config{}); err == nil {
		t.Errorf("New accepted a config without a mode")
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
