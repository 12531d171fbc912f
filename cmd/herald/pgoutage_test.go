package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/testutil/pgserver"
)

// TestPostgresRestartLosesNothing runs two herald nodes on a private
// PostgreSQL server and restarts the server twice (stopped in immediate
// mode, as in a crash, then in fast mode, as by an operator; down for a few
// seconds each time) while messages are being posted and delivered. While
// the database is down the API must answer 503 with a Svix error body,
// promptly; the nodes must keep running and resume by themselves; every
// message the API accepted must be delivered, and those refused with 503
// are posted again by the client, as a real one would, and delivered too.
// Duplicates are allowed (at least once) and logged.
func TestPostgresRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes and a private PostgreSQL server")
	}
	pg := pgserver.New(t)
	var logs syncBuffer
	nodes := startPostgresNodes(t, pg.URL(), 2, &logs)
	rc := newCountingReceiver(t)
	api := newOutageClient(t, nodes, rc.URL)

	// The load: clients post messages 0..total-1 through both nodes, each
	// until it is accepted.
	const total, clients = 400, 6
	next := make(chan int, total)
	for i := range total {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range next {
				evt := "evt-" + strconv.Itoa(i)
				api.sendUntilAccepted(nodes[(c+i)%len(nodes)].URL, i, evt, evt)
				time.Sleep(10 * time.Millisecond) // spread the load over the restarts
			}
		})
	}
	for n, mode := range []pgserver.Mode{pgserver.Immediate, pgserver.Fast} {
		waitFor(t, 30*time.Second, "more of the load accepted", func() bool { return api.acceptedCount() >= (n+1)*total/3 })
		pg.Stop(t, mode)
		downAt := time.Now()
		for time.Since(downAt) < 3*time.Second { // stay down a while, under load
			api.probeOutage(&wg, total)
			time.Sleep(200 * time.Millisecond)
		}
		pg.Start(t)
		t.Logf("PostgreSQL down for %v (stopped in %s mode)", time.Since(downAt).Round(time.Millisecond), mode)
	}
	wg.Wait()
	if api.refused.Load() == 0 {
		t.Error("no API call was refused while the database was down")
	}
	api.checkDelivered(rc, total)
	stopNodes(t, nodes, &logs)
}

// TestPostgresHangAnswers503 pauses the private PostgreSQL server (every
// process stopped, connections left open: a database that hangs, as
// behind a network partition) under two herald nodes. Reads and writes
// must answer 503 with a Svix error body within the API's request bound
// rather than wait for the database; once it runs again, the nodes resume
// by themselves and everything accepted is delivered.
func TestPostgresHangAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes and a private PostgreSQL server")
	}
	pg := pgserver.New(t)
	var logs syncBuffer
	nodes := startPostgresNodes(t, pg.URL(), 2, &logs)
	rc := newCountingReceiver(t)
	api := newOutageClient(t, nodes, rc.URL)

	const before = 20
	for i := range before {
		api.sendUntilAccepted(nodes[i%len(nodes)].URL, i, "evt-"+strconv.Itoa(i), "")
	}
	pg.Pause(t)
	pausedAt := time.Now()
	var wg sync.WaitGroup
	api.probeOutage(&wg, before)
	pg.Resume(t)
	t.Logf("PostgreSQL paused for %v", time.Since(pausedAt).Round(time.Millisecond))
	wg.Wait()
	if api.refused.Load() == 0 {
		t.Error("no API call was refused while the database hung")
	}
	api.checkDelivered(rc, before)
	stopNodes(t, nodes, &logs)
}

// startPostgresNodes starts n herald processes on the database at url,
// with a short retry schedule.
func startPostgresNodes(t *testing.T, url string, n int, logs *syncBuffer) []*benchServer {
	t.Helper()
	bin := buildHerald(t)
	nodes := make([]*benchServer, n)
	for i := range nodes {
		p, err := startServeProcess(bin, t.TempDir(), []string{
			"HERALD_ADMIN_TOKEN=" + testToken, "HERALD_DATABASE_URL=" + url,
			"HERALD_RETRY_SCHEDULE=200ms,400ms,800ms,1s,1s,1s,1s,1s", "HERALD_RETRY_JITTER=0",
			"HERALD_REQUEST_TIMEOUT=5s", "HERALD_SHUTDOWN_TIMEOUT=5s", "HERALD_API_TIMEOUT=3s",
		}, logs)
		if err != nil {
			t.Fatalf("node %d: %v\n%s", i, err, logs.String())
		}
		nodes[i] = p
		t.Cleanup(p.stop)
	}
	return nodes
}

// checkDelivered waits until every accepted message has reached rc, checks
// that the nodes still serve (never restarted), and logs the counts.
// logical is the number of messages the load meant to post (probes come
// on top).
func (c *outageClient) checkDelivered(rc *countingReceiver, logical int) {
	t := c.t
	t.Helper()
	accepted := c.acceptedIDs()
	waitFor(t, 40*time.Second, fmt.Sprintf("all %d accepted messages delivered", len(accepted)), func() bool {
		return rc.missing(accepted) == 0
	})
	for _, p := range c.nodes {
		if code, body := c.get(p.URL, "/api/v1/app/"+outageApp); code != 200 {
			t.Errorf("node %s after the outage: %d %s", p.URL, code, body)
		}
	}
	dups, unseen := rc.duplicates(accepted)
	t.Logf("%d messages accepted (%d logical), all delivered; %d answers were 503 (their messages posted again); "+
		"%d posts answered 409 (eventId taken: stored although their answer was a 503); %d duplicate deliveries of "+
		"a message; %d messages delivered that the client never saw accepted; slowest API answer: %v",
		len(accepted), logical+int(c.probes.Load()), c.refused.Load(), c.conflicts.Load(), dups, unseen,
		time.Duration(c.slowest.Load()))
	if unseen > 0 { // every message has an eventId: a retry finds the stored one
		t.Errorf("%d messages delivered that the client never saw accepted", unseen)
	}
}

// stopNodes ends each node with SIGTERM and expects exit status 0.
func stopNodes(t *testing.T, nodes []*benchServer, logs *syncBuffer) {
	t.Helper()
	for _, p := range nodes {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node exit after SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-done
			t.Errorf("node did not exit within 20s of SIGTERM")
		}
		p.cmd = nil
	}
	if t.Failed() {
		t.Logf("node logs:\n%s", logs.String())
	}
}

// countingReceiver counts the deliveries of each message ID. It fails one
// attempt in eight, so that retries cross the outage too.
type countingReceiver struct {
	*receiver
	mu   sync.Mutex
	seen map[string]int
}

func newCountingReceiver(t *testing.T) *countingReceiver {
	rc := &countingReceiver{seen: map[string]int{}}
	rc.receiver = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(n%20) * time.Millisecond) // keep attempts in flight
		if n%8 == 7 {
			w.WriteHeader(500)
			return
		}
		rc.mu.Lock()
		rc.seen[r.Header.Get("webhook-id")]++
		rc.mu.Unlock()
		w.WriteHeader(204)
	})
	return rc
}

// missing counts the messages of ids not delivered yet.
func (rc *countingReceiver) missing(ids map[string]int) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for id := range ids {
		if rc.seen[id] == 0 {
			n++
		}
	}
	return n
}

// duplicates returns the deliveries beyond the first of each message of
// ids, and the number of messages delivered that are not in ids.
func (rc *countingReceiver) duplicates(ids map[string]int) (dups, unseen int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id := range ids {
		dups += max(rc.seen[id]-1, 0)
	}
	for id := range rc.seen {
		if _, ok := ids[id]; !ok {
			unseen++
		}
	}
	return dups, unseen
}
