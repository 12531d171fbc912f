package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Settings of the kill tests' nodes: short enough that a dead node's
// deliveries come back, and its leadership moves, within a test.
const (
	killRequestTimeout = 5 * time.Second
	killLease          = 10 * time.Second // at least the request timeout + 5s
	killLeaderTerm     = 2 * time.Second
	killRescueEvery    = killLease / 4 // serve's min(5s, lease/4)
	killEndpoints      = 12
	killPerEndpoint    = 6 // attempts in flight per endpoint, cluster-wide
)

// killNode is one herald process of a killCluster, with its own log.
type killNode struct {
	*benchServer
	logs *syncBuffer
	pid  int // its default node name (host-pid-random) holds it
}

// killCluster is several herald processes on one PostgreSQL schema, a
// slow receiver they deliver to, and a connection to look at the schema.
type killCluster struct {
	schema string
	nodes  []*killNode
	rc     *slowReceiver
	db     *pgx.Conn
	pgPort int // PostgreSQL's port, to tell the nodes' sessions apart
}

// startKillCluster builds herald and starts n nodes on a new schema, with
// info logs (which name the elected leader) and an application per
// endpoint, each endpoint on the receiver.
func startKillCluster(t *testing.T, n int) *killCluster {
	t.Helper()
	url := postgresURL(t)
	c := &killCluster{schema: testSchema(t, url), rc: newSlowReceiver(t)}
	bin := buildHerald(t)
	env := []string{
		"HERALD_ADMIN_TOKEN=" + testToken, "HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + c.schema,
		"HERALD_RETRY_SCHEDULE=200ms,400ms,800ms", "HERALD_RETRY_JITTER=0",
		"HERALD_REQUEST_TIMEOUT=" + killRequestTimeout.String(), "HERALD_DELIVERY_LEASE=" + killLease.String(),
		"HERALD_LEADER_TERM=" + killLeaderTerm.String(), "HERALD_ENDPOINT_CONCURRENCY=" + strconv.Itoa(killPerEndpoint),
		"HERALD_SHUTDOWN_TIMEOUT=2s", "HERALD_LOG_LEVEL=info",
	}
	c.nodes = make([]*killNode, n)
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Go(func() {
			logs := &syncBuffer{}
			p, err := startServeProcess(bin, t.TempDir(), env, logs)
			if err != nil {
				t.Errorf("node %d: %v\n%s", i, err, logs.String())
				return
			}
			c.nodes[i] = &killNode{benchServer: p, logs: logs, pid: p.cmd.Process.Pid}
		})
	}
	wg.Wait()
	t.Cleanup(c.stop)
	if t.Failed() {
		t.FailNow()
	}
	db, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	c.db = db
	c.pgPort = int(db.Config().Port)
	t.Cleanup(func() { db.Close(context.Background()) })
	c.createEndpoints(t)
	return c
}

// stop ends the nodes still running with SIGTERM.
func (c *killCluster) stop() {
	for _, n := range c.nodes {
		if n != nil {
			n.stop()
		}
	}
}

// createEndpoints makes applications kill-0, kill-1, ... with one
// endpoint each.
func (c *killCluster) createEndpoints(t *testing.T) {
	t.Helper()
	for i := range killEndpoints {
		uid := fmt.Sprintf("kill-%d", i)
		if code, body := apiPost(c.nodes[0].URL, "/api/v1/app", map[string]any{"name": uid, "uid": uid}); code != 201 {
			t.Fatalf("create app: %d %s", code, body)
		}
		ep := map[string]any{"url": fmt.Sprintf("%s/%s", c.rc.URL, uid)}
		if code, body := apiPost(c.nodes[i%len(c.nodes)].URL, "/api/v1/app/"+uid+"/endpoint", ep); code != 201 {
			t.Fatalf("create endpoint: %d %s", code, body)
		}
	}
}

// postLoad posts total messages from six clients through node via,
// message i to application i%endpoints, and returns the IDs of the
// messages accepted (202).
func (c *killCluster) postLoad(t *testing.T, total int, via *killNode) []string {
	t.Helper()
	var mu sync.Mutex
	var accepted []string
	var wg sync.WaitGroup
	const clients = 6
	for k := range clients {
		wg.Go(func() {
			for i := k; i < total; i += clients {
				node := via
				path := fmt.Sprintf("/api/v1/app/kill-%d/msg", i%killEndpoints)
				code, body := apiPost(node.URL, path, map[string]any{"eventType": "kill.test", "payload": map[string]any{"i": i}})
				if code != 202 {
					t.Errorf("message %d via %s: %d %s", i, node.URL, code, body)
					return
				}
				var m map[string]any
				json.Unmarshal(body, &m)
				mu.Lock()
				accepted = append(accepted, str(m, "id"))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return accepted
}

// apiClient is the test's client of the nodes' APIs.
var apiClient = &http.Client{Timeout: 10 * time.Second}

// apiPost posts body as JSON with the admin token and returns the status
// and the response body (status 0 when the request failed).
func apiPost(base, path string, body any) (int, []byte) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// leader returns the node that leads maintenance according to the
// leaders table ("" when no row).
func (c *killCluster) leader(t *testing.T) string {
	t.Helper()
	var node string
	q := "SELECT node FROM " + pgx.Identifier{c.schema, "leaders"}.Sanitize() + " WHERE name = 'maintenance'"
	err := c.db.QueryRow(context.Background(), q).Scan(&node)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("read leader: %v", err)
	}
	return node
}

// owners returns the nodes that own endpoints (endpoint_owners), one
// entry per endpoint.
func (c *killCluster) owners(t *testing.T) []string {
	t.Helper()
	q := "SELECT node FROM " + pgx.Identifier{c.schema, "endpoint_owners"}.Sanitize()
	rows, err := c.db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("read endpoint owners: %v", err)
	}
	nodes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read endpoint owners: %v", err)
	}
	return nodes
}

// waitLeader waits until a node leads maintenance and returns it.
func (c *killCluster) waitLeader(t *testing.T) *killNode {
	t.Helper()
	var n *killNode
	waitFor(t, 10*time.Second, "a maintenance leader", func() bool {
		n = c.nodeNamed(c.leader(t))
		return n != nil
	})
	return n
}

// nodeNamed returns the node of this cluster whose default node name
// (host-pid-random) is name, or nil.
func (c *killCluster) nodeNamed(name string) *killNode {
	rest, _, ok := cutLast(name, "-")
	if !ok {
		return nil
	}
	_, pid, ok := cutLast(rest, "-")
	if !ok {
		return nil
	}
	for _, n := range c.nodes {
		if n != nil && strconv.Itoa(n.pid) == pid {
			return n
		}
	}
	return nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// sending returns the deliveries in status sending (3): message ID to
// lease end.
func (c *killCluster) sending(t *testing.T) map[string]time.Time {
	t.Helper()
	q := "SELECT msg_id, lease_until FROM " + pgx.Identifier{c.schema, "deliveries"}.Sanitize() + " WHERE status = 3"
	rows, err := c.db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("read sending deliveries: %v", err)
	}
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var until time.Time
		if err := rows.Scan(&id, &until); err != nil {
			t.Fatal(err)
		}
		out[id] = until
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unfinished counts deliveries pending (1) or sending (3).
func (c *killCluster) unfinished(t *testing.T) int {
	t.Helper()
	var n int
	q := "SELECT count(*) FROM " + pgx.Identifier{c.schema, "deliveries"}.Sanitize() + " WHERE status IN (1, 3)"
	if err := c.db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("count unfinished deliveries: %v", err)
	}
	return n
}

// kill stops node n with SIGSTOP (the kill instant: it does nothing
// more), reads which of its connections go to the receiver and to
// PostgreSQL, then ends it with SIGKILL and reaps it. It returns once
// PostgreSQL has ended the node's sessions, so that what the node sent
// before the kill is committed or rolled back; it returns the node's
// source ports to the receiver and the kill instant.
func (c *killCluster) kill(t *testing.T, n *killNode) (ports map[int]bool, at time.Time) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	ports, err := tcpPortsTo(n.pid, c.rc.port)
	sessions, perr := tcpPortsTo(n.pid, c.pgPort)
	if kerr := n.cmd.Process.Signal(syscall.SIGKILL); kerr != nil {
		t.Fatal(kerr)
	}
	n.cmd.Wait()
	n.cmd = nil // reaped: stop has nothing to do
	if err = errors.Join(err, perr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "PostgreSQL to end the killed node's sessions", func() bool {
		return c.sessionsOpen(t, sessions, at) == 0
	})
	return ports, at
}

// sessionsOpen counts the PostgreSQL sessions from the given client ports
// that started before the kill and are still open.
func (c *killCluster) sessionsOpen(t *testing.T, ports map[int]bool, before time.Time) int {
	t.Helper()
	list := make([]int32, 0, len(ports))
	for p := range ports {
		list = append(list, int32(p))
	}
	var n int
	q := "SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY($1) AND backend_start < $2"
	if err := c.db.QueryRow(context.Background(), q, list, before).Scan(&n); err != nil {
		t.Fatalf("count the killed node's sessions: %v", err)
	}
	return n
}
