package postgres

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// proxy forwards TCP connections from a loopback port to the test
// server, and can drop every connection, refuse new ones, or stall (hold
// back all traffic), to play an unreachable or hanging database.
type proxy struct {
	target  string
	addr    string
	stalled atomic.Bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startProxy starts a proxy to target on a free loopback port; it stops
// when t ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	})
}

// forward pipes c to a new connection to the target.
func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil { // stopped meanwhile
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.wg.Go(func() { p.pipe(up, c) })
	p.wg.Go(func() { p.pipe(c, up) })
}

// pipe copies src to dst, holding data back while the proxy is stalled,
// and closes both when either side ends.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stop closes the listener and every connection. Safe to call twice.
func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.stalled.Store(false)
	p.mu.Unlock()
	p.wg.Wait()
}

// restart listens on the same address again.
func (p *proxy) restart(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("restart proxy: %v", err)
	}
	p.serve(ln)
}

// viaProxy returns the test URL with its host replaced by addr, and the
// host it replaced.
func viaProxy(t *testing.T, rawURL, addr string) (proxied, target string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Skipf("%s is not a URL with a host (%v): the unavailability tests need one", urlEnv, err)
	}
	target = u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	u.Host = addr
	return u.String(), target
}

// wantUnavailable fails t unless err carries EUnavailable.
func wantUnavailable(t *testing.T, err error, what string) {
	t.Helper()
	if herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("%s: %v, want EUnavailable", what, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	url := testURL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	proxied, _ := viaProxy(t, url, dead)
	start := time.Now()
	_, err = Open(context.Background(), Config{URL: proxied})
	wantUnavailable(t, err, "Open on a port nothing listens on")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v to fail", d)
	}
}

func TestOpenRespectsContext(t *testing.T) {
	url := testURL(t)
	_, target := viaProxy(t, url, "127.0.0.1:1")
	p := startProxy(t, target)
	p.stalled.Store(true) // connections open, but the server never answers
	proxied, _ := viaProxy(t, url, p.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, Config{URL: proxied})
	wantUnavailable(t, err, "Open on a server that does not answer")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open took %v to give up with a 300ms context", d)
	}
}

// TestUnavailableAndRecovery cuts the store off its database, checks that
// reads, writes and claims fail promptly with EUnavailable, then restores
// the database and checks that the store recovers by itself, its
// notification listener included.
func TestUnavailableAndRecovery(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	_, target := viaProxy(t, url, "127.0.0.1:1")
	p := startProxy(t, target)
	proxied, _ := viaProxy(t, url, p.addr)
	s, err := Open(context.Background(), Config{URL: proxied, Schema: schema, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := newWorld(t, s, 1)

	p.stop()
	start := time.Now()
	checkCutOff(t, s, w)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("calls took %v to fail while the database was unreachable", d)
	}

	drain(s.DeliveryNotify())
	p.restart(t)
	waitFor(t, 20*time.Second, "Ping after the database came back", func() bool { return s.Ping(context.Background()) == nil })
	select {
	case <-s.DeliveryNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("the listener did not signal after reconnecting")
	}
	if _, err := s.MessageCreate(context.Background(), w.newMessage(time.Now(), 0), nil); err != nil {
		t.Fatalf("MessageCreate after recovery: %v", err)
	}
	// Its listener hears other nodes again.
	other := openTest(t, url, schema)
	drain(s.DeliveryNotify())
	if _, err := other.MessageCreate(context.Background(), w.newMessage(time.Now(), 1), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.DeliveryNotify():
	case <-time.After(5 * time.Second):
		t.Fatal("no notification from another store after the listener reconnected")
	}
}

// checkCutOff checks that s's calls fail with EUnavailable.
func checkCutOff(t *testing.T, s *Store, w *world) {
	t.Helper()
	ctx := context.Background()
	wantUnavailable(t, s.Ping(ctx), "Ping")
	_, err := s.ApplicationGet(ctx, w.app.ID)
	wantUnavailable(t, err, "ApplicationGet")
	_, err = s.MessageCreate(ctx, w.newMessage(time.Now(), 0), nil)
	wantUnavailable(t, err, "MessageCreate")
	_, err = s.DeliveryClaim(ctx, herald.ClaimParams{Now: time.Now(), Limit: 10, LeaseUntil: time.Now().Add(time.Minute)})
	wantUnavailable(t, err, "DeliveryClaim")
}

// TestStalledDatabase checks that calls honour their context when the
// database stops answering (the connections stay open).
func TestStalledDatabase(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	_, target := viaProxy(t, url, "127.0.0.1:1")
	p := startProxy(t, target)
	proxied, _ := viaProxy(t, url, p.addr)
	s, err := Open(context.Background(), Config{URL: proxied, Schema: schema, WriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := newWorld(t, s, 1)
	p.stalled.Store(true)
	for name, call := range map[string]func(ctx context.Context) error{
		"read": func(ctx context.Context) error { _, err := s.ApplicationGet(ctx, w.app.ID); return err },
		"write": func(ctx context.Context) error {
			_, err := s.MessageCreate(ctx, w.newMessage(time.Now(), 0), nil)
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		wantUnavailable(t, err, name+" on a stalled database")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v does not wrap context.DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s took %v with a 300ms context", name, d)
		}
	}
	p.stalled.Store(false)
	waitFor(t, 20*time.Second, "Ping after the stall", func() bool { return s.Ping(context.Background()) == nil })
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
