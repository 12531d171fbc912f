package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is how a receiver misbehaves.
type Mode int

// The modes. Every receiver reads each request in full before it
// misbehaves, so the sender's request has been sent.
const (
	// Hang never answers and holds the connection until the sender gives
	// up (or the receiver is closed).
	Hang Mode = iota + 1
	// SlowHeaders sends a status line, then a header one byte per
	// Interval, never finishing the headers.
	SlowHeaders
	// Trickle sends 200 and its headers at once, then the body one byte
	// per Interval (a body of Size bytes, default 3600).
	Trickle
	// Huge sends 200 and a body of Size bytes (default 100 MiB) as fast as
	// the sender reads it, generated on the fly from one small buffer.
	Huge
	// Reset sends 200, its headers and part of the body, then resets the
	// connection (RST, not FIN: SO_LINGER 0 and close).
	Reset
	// Redirect answers Code (default 302) with Location.
	Redirect
	// Status answers Code (default 429) with Header and a short body.
	Status
	// Garbage answers raw bytes that are not an HTTP status line, then
	// closes the connection.
	Garbage
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Hang:
		return "hang"
	case SlowHeaders:
		return "slow-headers"
	case Trickle:
		return "trickle"
	case Huge:
		return "huge"
	case Reset:
		return "reset"
	case Redirect:
		return "redirect"
	case Status:
		return "status"
	case Garbage:
		return "garbage"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Config says how a receiver misbehaves. Zero values take the defaults.
type Config struct {
	// Mode is the misbehaviour. Required.
	Mode Mode
	// Code is the status of Status (default 429) and Redirect (default
	// 302) answers.
	Code int
	// Header is sent with Status and Redirect answers (e.g. Retry-After).
	Header http.Header
	// Location is where Redirect points. Default http://127.0.0.1:1/.
	Location string
	// Size is the body length of Trickle (default 3600 bytes) and Huge
	// (default 100 MiB) answers.
	Size int64
	// Interval is the pause between the bytes of Trickle and SlowHeaders.
	// Default 1s.
	Interval time.Duration
	// Garbage is what a Garbage receiver answers. Default: a line of
	// binary and text that no HTTP client can parse.
	Garbage []byte
}

// defaultGarbage is neither a status line nor valid UTF-8, and holds a NUL.
var defaultGarbage = []byte("\x00\xff\xfeSSH-2.0-OpenSSH_9.6 not http\r\n\x80\x81garbage\r\n\r\n")

func (c Config) withDefaults() Config {
	if c.Code == 0 {
		c.Code = map[Mode]int{Redirect: http.StatusFound}[c.Mode]
		if c.Code == 0 {
			c.Code = http.StatusTooManyRequests
		}
	}
	if c.Location == "" {
		c.Location = "http://127.0.0.1:1/"
	}
	if c.Size <= 0 {
		c.Size = 3600
		if c.Mode == Huge {
			c.Size = 100 << 20
		}
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Garbage == nil {
		c.Garbage = defaultGarbage
	}
	return c
}

// Receiver is a misbehaving HTTP receiver on 127.0.0.1. Its URL takes any
// path. Close it when done (Start does so at the test's cleanup).
type Receiver struct {
	// URL is the receiver's address: http://127.0.0.1:PORT/hook.
	URL string

	cfg      Config
	ln       net.Listener
	requests atomic.Int64
	open     atomic.Int64
	sent     atomic.Int64

	mu     sync.Mutex
	times  []time.Time // when each request had been read
	conns  map[net.Conn]struct{}
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// Start starts a receiver for the test and closes it at the test's end.
func Start(t testing.TB, cfg Config) *Receiver {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// New starts a receiver on a free loopback port. The caller closes it.
func New(cfg Config) (*Receiver, error) {
	if cfg.Mode < Hang || cfg.Mode > Garbage {
		return nil, fmt.Errorf("hostile: unknown mode %d", cfg.Mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hostile: listen: %w", err)
	}
	r := &Receiver{cfg: cfg.withDefaults(), ln: ln, conns: map[net.Conn]struct{}{}, closed: make(chan struct{})}
	r.URL = "http://" + ln.Addr().String() + "/hook"
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// URLWithHost returns the receiver's URL with host in place of 127.0.0.1
// (same port and path): for a name that resolves to some address, such as
// "localhost" or one that a test's resolver maps to a private address.
func (r *Receiver) URLWithHost(host string) string {
	_, port, _ := net.SplitHostPort(r.ln.Addr().String())
	return "http://" + net.JoinHostPort(host, port) + "/hook"
}

// Requests is the number of requests read in full so far.
func (r *Receiver) Requests() int64 { return r.requests.Load() }

// RequestTimes returns when each request so far had been read, in order.
func (r *Receiver) RequestTimes() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times...)
}

// Open is the number of connections open now.
func (r *Receiver) Open() int64 { return r.open.Load() }

// BodyBytesSent is the number of response body bytes written so far.
func (r *Receiver) BodyBytesSent() int64 { return r.sent.Load() }

// Close stops accepting, closes every open connection and waits for the
// receiver's goroutines. It is safe to call more than once.
func (r *Receiver) Close() {
	r.once.Do(func() {
		close(r.closed)
		r.ln.Close()
		r.mu.Lock()
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
	})
	r.wg.Wait()
}

func (r *Receiver) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.untrack(c)
			r.serve(c)
		}()
	}
}

func (r *Receiver) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
		return false
	default:
	}
	r.conns[c] = struct{}{}
	r.open.Add(1)
	return true
}

func (r *Receiver) untrack(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; ok {
		delete(r.conns, c)
		c.Close()
		r.open.Add(-1)
	}
}

// serve reads requests on c and answers each as the mode says, for as long
// as the mode lets the connection live.
func (r *Receiver) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		r.mu.Lock()
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
		r.requests.Add(1)
		if !r.answer(c) {
			return
		}
	}
}

// answer misbehaves once on c; true when c may carry another request.
func (r *Receiver) answer(c net.Conn) bool {
	switch r.cfg.Mode {
	case Hang:
		io.Copy(io.Discard, c) // until the sender hangs up or Close
		return false
	case SlowHeaders:
		if !r.write(c, "HTTP/1.1 200 OK\r\nX-Slow: ") {
			return false
		}
		r.trickle(c, 1<<20)
		return false
	case Trickle:
		if !r.write(c, r.head(http.StatusOK, nil, r.cfg.Size)) {
			return false
		}
		return r.trickle(c, r.cfg.Size)
	case Huge:
		return r.write(c, r.head(http.StatusOK, nil, r.cfg.Size)) && r.stream(c, r.cfg.Size)
	case Reset:
		r.reset(c)
		return false
	case Redirect:
		h := r.cfg.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Location", r.cfg.Location)
		return r.write(c, r.head(r.cfg.Code, h, 0))
	case Status:
		body := fmt.Sprintf("status %d", r.cfg.Code)
		return r.write(c, r.head(r.cfg.Code, r.cfg.Header, int64(len(body)))+body)
	case Garbage:
		c.Write(r.cfg.Garbage)
		return false
	}
	return false
}

// head is a status line and headers, ending the header block.
func (r *Receiver) head(code int, h http.Header, length int64) string {
	s := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n", code, http.StatusText(code), length)
	for k, vs := range h {
		for _, v := range vs {
			s += k + ": " + v + "\r\n"
		}
	}
	return s + "\r\n"
}

func (r *Receiver) write(c net.Conn, s string) bool {
	_, err := io.WriteString(c, s)
	return err == nil
}

// trickle writes n bytes of 'x', one per Interval; true when all went.
func (r *Receiver) trickle(c net.Conn, n int64) bool {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for i := int64(0); i < n; i++ {
		select {
		case <-r.closed:
			return false
		case <-t.C:
		}
		if _, err := c.Write([]byte{'x'}); err != nil {
			return false
		}
		r.sent.Add(1)
	}
	return true
}

// stream writes n bytes from one reused buffer; true when all went.
func (r *Receiver) stream(c net.Conn, n int64) bool {
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = 'a' + byte(i%26)
	}
	for n > 0 {
		k, err := c.Write(buf[:min(int64(len(buf)), n)])
		r.sent.Add(int64(k))
		if err != nil {
			return false
		}
		n -= int64(k)
	}
	return true
}

// reset sends the start of a 200 answer (headers and 100 of 1024 body
// bytes), lets it reach the sender, and resets the connection.
func (r *Receiver) reset(c net.Conn) {
	if !r.write(c, r.head(http.StatusOK, nil, 1024)) {
		return
	}
	part := make([]byte, 100)
	for i := range part {
		part[i] = 'r'
	}
	if _, err := c.Write(part); err != nil {
		return
	}
	r.sent.Add(int64(len(part)))
	select { // not synchronisation: the pause makes a reset mid-body likely, not certain
	case <-r.closed:
	case <-time.After(100 * time.Millisecond):
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
