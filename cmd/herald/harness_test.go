package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "test-admin-token-0123456789"

// syncBuffer is an io.Writer safe for concurrent use, read while written.
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

// testServer is a Herald started through run() on a random port.
type testServer struct {
	URL     string
	DataDir string
	stdout  *syncBuffer
	stderr  *syncBuffer
	cancel  context.CancelFunc
	done    chan error
}

var regexpToken = regexp.MustCompile(`(?m)^\s+(hrd_\S+)$`)

// startServer runs `herald serve` in-process with test settings: a short
// retry schedule without jitter, loopback receivers allowed. env entries
// override them (a "KEY=" entry removes KEY).
func startServer(t *testing.T, env ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	return startServerIn(t, dir, env...)
}

func startServerIn(t *testing.T, dir string, env ...string) *testServer {
	t.Helper()
	base := map[string]string{
		"HERALD_ADDR":                      "127.0.0.1:0",
		"HERALD_DATA_DIR":                  dir,
		"HERALD_ADMIN_TOKEN":               testToken,
		"HERALD_RETRY_SCHEDULE":            "100ms,200ms",
		"HERALD_RETRY_JITTER":              "0",
		"HERALD_REQUEST_TIMEOUT":           "5s",
		"HERALD_ALLOWED_DESTINATION_CIDRS": "127.0.0.0/8",
		"HERALD_SHUTDOWN_TIMEOUT":          "2s",
		"HERALD_LOG_LEVEL":                 "warn",
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	environ := make([]string, 0, len(base))
	for k, v := range base {
		environ = append(environ, k+"="+v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{DataDir: dir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"herald", "serve"}, environ, s.stdout, s.stderr) }()
	waitFor(t, 10*time.Second, "server to listen", func() bool {
		select {
		case err := <-s.done:
			t.Fatalf("server exited early: %v\nstderr: %s", err, s.stderr.String())
		default:
		}
		m := listenLine.FindStringSubmatch(s.stdout.String())
		if m != nil {
			s.URL = m[1]
		}
		return m != nil
	})
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop cancels the server's context (as SIGTERM does) and waits for run to
// return; safe to call twice.
func (s *testServer) Stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("server did not stop within 15s")
	}
}

// apiResponse is a decoded API answer.
type apiResponse struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into a generic map.
func (r apiResponse) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// call makes an API request with the admin token. body may be nil, a string
// (sent as is) or any value (sent as JSON).
func (s *testServer) call(t *testing.T, method, path string, body any, headers ...string) apiResponse {
	t.Helper()
	return s.callAs(t, testToken, method, path, body, headers...)
}

func (s *testServer) callAs(t *testing.T, token, method, path string, body any, headers ...string) apiResponse {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

// must makes an API request and fails the test unless it answers want.
func (s *testServer) must(t *testing.T, want int, method, path string, body any, headers ...string) map[string]any {
	t.Helper()
	r := s.call(t, method, path, body, headers...)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(t)
}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is a real HTTP server recording what it receives. Its handler
// answers with respond(n) for the n-th request (0-based), 200 by default.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	respond  func(n int, w http.ResponseWriter, r *http.Request)
	inFlight int
	maxIn    int
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/log" {
		rc.writeLog(w)
		return
	}
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.got)
	rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: body, At: time.Now()})
	rc.inFlight++
	rc.maxIn = max(rc.maxIn, rc.inFlight)
	rc.mu.Unlock()
	defer func() { rc.mu.Lock(); rc.inFlight--; rc.mu.Unlock() }()
	if rc.respond != nil {
		rc.respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "ok")
}

// writeLog answers GET /log with the recorded requests, header names in
// lower case, for the SDK test.
func (rc *receiver) writeLog(w http.ResponseWriter) {
	type entry struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	var out []entry
	for _, g := range rc.requests() {
		h := map[string]string{}
		for k := range g.Header {
			h[strings.ToLower(k)] = g.Header.Get(k)
		}
		out = append(out, entry{Headers: h, Body: string(g.Body)})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// byMsg returns the requests carrying webhook-id msgID.
func (rc *receiver) byMsg(msgID string) []received {
	var out []received
	for _, g := range rc.requests() {
		if g.Header.Get("webhook-id") == msgID {
			out = append(out, g)
		}
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// str returns m[key] as a string ("" if absent).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// items returns the "data" array of a list response.
func items(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %v", m)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// createApp makes an application and returns its id.
func (s *testServer) createApp(t *testing.T, name string) string {
	t.Helper()
	return str(s.must(t, 201, "POST", "/api/v1/app", map[string]any{"name": name}), "id")
}

// createEndpoint makes an endpoint from fields and returns id and secret.
func (s *testServer) createEndpoint(t *testing.T, appID string, fields map[string]any) (id, secret string) {
	t.Helper()
	ep := s.must(t, 201, "POST", "/api/v1/app/"+appID+"/endpoint", fields)
	id = str(ep, "id")
	secret = str(s.must(t, 200, "GET", "/api/v1/app/"+appID+"/endpoint/"+id+"/secret", nil), "key")
	return id, secret
}

// send posts a message and returns its id.
func (s *testServer) send(t *testing.T, appID string, msg map[string]any) string {
	t.Helper()
	return str(s.must(t, 202, "POST", "/api/v1/app/"+appID+"/msg", msg), "id")
}
