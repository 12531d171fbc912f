package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowRequest is one request a slowReceiver got: the message it carried
// (its webhook-id), the sender's source port, when the handler started
// and when it answered 2xx (zero while it works on it).
type slowRequest struct {
	msgID    string
	port     int
	start    time.Time
	answered time.Time
}

// slowReceiver is a real receiver on 127.0.0.1 that takes 200-500 ms per
// request, so that many attempts are in flight at any moment, and then
// always answers 204. It records every request with its source port, so
// that a test can tell which process sent it.
type slowReceiver struct {
	*httptest.Server
	port int

	mu   sync.Mutex
	reqs []slowRequest
}

// newSlowReceiver starts a slowReceiver, closed when the test ends.
func newSlowReceiver(t *testing.T) *slowReceiver {
	t.Helper()
	rc := &slowReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	rc.port = int(netip.MustParseAddrPort(rc.Listener.Addr().String()).Port())
	return rc
}

// serve records the request, works on it for 200-500 ms and answers 204.
// It answers even when the sender has gone meanwhile: the receiver has
// done the work, so a later attempt of the same message is a duplicate.
func (rc *slowReceiver) serve(w http.ResponseWriter, r *http.Request) {
	port := 0
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		port = int(ap.Port())
	}
	rc.mu.Lock()
	i := len(rc.reqs)
	rc.reqs = append(rc.reqs, slowRequest{msgID: r.Header.Get("webhook-id"), port: port, start: time.Now()})
	rc.mu.Unlock()

	time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond) // the receiver's work, not synchronisation
	w.WriteHeader(http.StatusNoContent)

	rc.mu.Lock()
	rc.reqs[i].answered = time.Now()
	rc.mu.Unlock()
}

// requests returns a copy of every request so far.
func (rc *slowReceiver) requests() []slowRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]slowRequest(nil), rc.reqs...)
}

// counts returns how many requests were answered and how many are being
// worked on.
func (rc *slowReceiver) counts() (answered, open int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, r := range rc.reqs {
		if r.answered.IsZero() {
			open++
		} else {
			answered++
		}
	}
	return answered, open
}

// answeredByMsg counts the 2xx answers per message.
func (rc *slowReceiver) answeredByMsg() map[string]int {
	n := map[string]int{}
	for _, r := range rc.requests() {
		if !r.answered.IsZero() {
			n[r.msgID]++
		}
	}
	return n
}

// tcpPortsTo returns the local ports of process pid's TCP connections to
// remotePort, read from /proc (Linux): the process's socket inodes from
// /proc/pid/fd, matched against its network namespace's connection
// tables.
func tcpPortsTo(pid, remotePort int) (map[int]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list sockets of %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return nil, fmt.Errorf("read connections of %d: %w", pid, err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line) // sl local rem st queues tr retrnsmt uid timeout inode ...
			if len(f) < 10 || !inodes[f[9]] || hexPort(f[2]) != remotePort {
				continue
			}
			ports[hexPort(f[1])] = true
		}
	}
	return ports, nil
}

// hexPort returns the port of a /proc/net/tcp address ("0100007F:1F90"),
// or -1.
func hexPort(addr string) int {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	n, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return -1
	}
	return int(n)
}
