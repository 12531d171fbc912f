package delivery_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
)

// closingReceiver answers the first request on each connection with 200
// and keeps the connection open, then closes it without an answer when a
// second request arrives on it: a receiver that dropped a kept-alive
// connection just as the sender reused it.
func closingReceiver(t *testing.T) (url string, served *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				served.Add(1)
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				if req, err := http.ReadRequest(br); err == nil {
					io.Copy(io.Discard, req.Body) // the reused connection: closed unanswered
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/hook", served
}

// TestStaleKeptAliveConnectionIsRetried: when a receiver closes a
// kept-alive connection as the sender reuses it, the attempt goes again on
// a new connection instead of failing (deliveries are idempotent by their
// webhook-id, so resending one that got no answer is safe).
func TestStaleKeptAliveConnectionIsRetried(t *testing.T) {
	e := newEnv(t)
	url, served := closingReceiver(t)
	e.endpoint(url)
	e.start(delivery.Config{PerEndpoint: 1})
	for i := range 5 {
		m := e.send("a.b", `{"n":1}`)
		waitFor(t, 5*time.Second, "attempt", func() bool { return len(e.attempts(m.ID)) == 1 })
		if a := e.attempts(m.ID)[0]; a.Status != herald.StatusSuccess {
			t.Fatalf("message %d: attempt %+v, want success on a new connection", i, a)
		}
	}
	if served.Load() != 5 {
		t.Fatalf("receiver answered %d requests, want 5", served.Load())
	}
}
