package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangLimit is how long an API call may take, the database out or not,
// before the test calls it hung. Not a speed target: the nodes' API
// timeout is 3s (HERALD_API_TIMEOUT), well under it, and the default
// (10s) over it, so that the setting is seen to apply.
const hangLimit = 8 * time.Second

// outageApp is the uid of the application outageClient posts to.
const outageApp = "outage"

// outageClient posts messages as a client would through a database
// outage: whatever was refused with 503 is posted again after a pause. It
// records what was accepted and fails the test on any answer other than
// success or a 503 with a Svix error body, and on any call that hangs.
type outageClient struct {
	t     *testing.T
	nodes []*benchServer
	http  *http.Client

	mu       sync.Mutex
	accepted map[string]int // message ID -> logical number

	refused   atomic.Int64 // 503 answers
	conflicts atomic.Int64 // 409s: a message stored although its post got a 503
	probes    atomic.Int64 // messages posted by probeOutage
	slowest   atomic.Int64 // longest answer, ns
}

// newOutageClient makes the application, with one endpoint to
// receiverURL, through the nodes.
func newOutageClient(t *testing.T, nodes []*benchServer, receiverURL string) *outageClient {
	t.Helper()
	c := &outageClient{t: t, nodes: nodes, http: &http.Client{Timeout: hangLimit}, accepted: map[string]int{}}
	t.Cleanup(c.http.CloseIdleConnections)
	if code, body := c.post(nodes[0].URL, "/api/v1/app", "", map[string]any{"name": outageApp, "uid": outageApp}); code != 201 {
		t.Fatalf("create app: %d %s", code, body)
	}
	if code, body := c.post(nodes[len(nodes)-1].URL, "/api/v1/app/"+outageApp+"/endpoint", "", map[string]any{"url": receiverURL}); code != 201 {
		t.Fatalf("create endpoint: %d %s", code, body)
	}
	return c
}

// sendUntilAccepted posts logical message i with eventID until the API
// accepts it, for 45s at most; key, if set, is sent as Idempotency-Key. A
// 409 means that an earlier post was stored although its answer was a
// 503: the stored message is fetched and taken as accepted, as a client
// would.
func (c *outageClient) sendUntilAccepted(base string, i int, eventID, key string) {
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(45 * time.Second)
	for {
		code, body := c.postMessage(base, i, eventID, key)
		if code == 409 {
			c.conflicts.Add(1)
			code, body = c.get(base, "/api/v1/app/"+outageApp+"/msg/"+eventID)
			if code == 200 {
				code = 202
			}
		}
		if code == 202 {
			c.accept(body, i)
			return
		}
		if code != 503 || time.Now().After(deadline) {
			c.t.Errorf("message %d: %d %s", i, code, body)
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
}

// probeOutage checks, on every node at once, that a read and a write
// (without an idempotency key, so that it reaches the store's writer) are
// answered 503 while the database is out, unless the write was accepted.
// It returns when every probe has been answered; a refused write is posted
// again until accepted in the background (in wg). Probe messages are
// numbered from first.
func (c *outageClient) probeOutage(wg *sync.WaitGroup, first int) {
	var probes sync.WaitGroup
	for _, p := range c.nodes {
		probes.Go(func() {
			if code, body := c.get(p.URL, "/api/v1/app/"+outageApp); code != 503 {
				c.t.Errorf("read while the database is out: %d %s, want 503", code, body)
			}
		})
		probes.Go(func() {
			i := first + int(c.probes.Add(1)) - 1
			eventID := "probe-" + strconv.Itoa(i)
			switch code, body := c.postMessage(p.URL, i, eventID, ""); code {
			case 202:
				c.accept(body, i)
			case 503:
				wg.Go(func() { c.sendUntilAccepted(p.URL, i, eventID, "") })
			default:
				c.t.Errorf("write while the database is out: %d %s, want 503", code, body)
			}
		})
	}
	probes.Wait()
}

// postMessage posts logical message i with eventID, and key as its
// Idempotency-Key if set.
func (c *outageClient) postMessage(base string, i int, eventID, key string) (int, []byte) {
	return c.post(base, "/api/v1/app/"+outageApp+"/msg", key,
		map[string]any{"eventType": "outage.test", "eventId": eventID, "payload": map[string]any{"i": i}})
}

// call makes one request and checks its answer: a 503 must carry a Svix
// error body, and no call may take hangLimit.
func (c *outageClient) call(method, url, key string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: no answer within %v: %v", method, url, hangLimit, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for d, old := int64(time.Since(start)), c.slowest.Load(); d > old && !c.slowest.CompareAndSwap(old, d); old = c.slowest.Load() {
	}
	if resp.StatusCode == 503 {
		c.refused.Add(1)
		var e struct{ Code, Detail string }
		if json.Unmarshal(b, &e) != nil || e.Code == "" || e.Detail == "" {
			c.t.Errorf("%s %s: 503 without a Svix error body: %s", method, url, b)
		}
	}
	return resp.StatusCode, b
}

func (c *outageClient) post(base, path, key string, body any) (int, []byte) {
	return c.call(http.MethodPost, base+path, key, body)
}

func (c *outageClient) get(base, path string) (int, []byte) {
	return c.call(http.MethodGet, base+path, "", nil)
}

// accept records an accepted message.
func (c *outageClient) accept(body []byte, i int) {
	var m struct{ ID string }
	if err := json.Unmarshal(body, &m); err != nil || m.ID == "" {
		c.t.Errorf("message %d accepted without an id: %s", i, body)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accepted[m.ID] = i
}

func (c *outageClient) acceptedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.accepted)
}

// acceptedIDs returns the accepted messages, ID -> logical number.
func (c *outageClient) acceptedIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.accepted))
	for id, i := range c.accepted {
		out[id] = i
	}
	return out
}
