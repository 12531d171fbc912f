package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/httpapi"
	"github.com/herald-webhooks/herald/internal/testutil/pgtest"
	"github.com/herald-webhooks/herald/postgres"
	"github.com/herald-webhooks/herald/sqlite"
)

// bodySeeds are request bodies for every route that takes one: valid
// ones, broken JSON, JSON of the wrong shape, too deep, NUL characters
// and lone surrogates.
var bodySeeds = []string{`{}`, `{"name":"x","url":"https://x.example.com","eventType":"a.b","payload":{"k":[1,{"z":null}]}}`,
	`{"since":"2026-01-01T00:00:00Z","status":2,"eventTypes":["a.b"]}`, `{"headers":{"X-A":"b","X-B":null}}`,
	`{"filterTypes":["endpoint.disabled"],"channels":["c"],"metadata":{"k":"v"},"throttleRate":5}`,
	`{"name":` + strings.Repeat("[", 70), `{"payload":"\u0000","eventType":"\ud800"}`, `{"name":"\u0000","description":"\u0000"}`,
	`{"metadata":{"\u0000":"\u0000"},"uid":"\u0000"}`, `{"url":"https://x.example.com/\u0000","description":"\ud800\udc00"}`,
	`{"expiry":1e400,"since":"\u0000"}`, `null`, `[]`, `"x"`, ``}

// bodyTarget is an API server over a store holding one object of each
// kind, and the routes that take a body, with their paths filled in.
type bodyTarget struct {
	url    string
	routes []string // "METHOD /path"
}

func newBodyTarget(tb testing.TB, store herald.Store) *bodyTarget {
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{AdminToken: adminToken}, store))
	tb.Cleanup(srv.Close)
	bt := &bodyTarget{url: srv.URL}
	must := func(method, path, body string) string {
		code, b := bt.call(method, path, body)
		var m map[string]any
		if code >= 300 || json.Unmarshal(b, &m) != nil {
			tb.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		id, _ := m["id"].(string)
		return id
	}
	must("POST", "/api/v1/app", `{"name":"F","uid":"f"}`)
	must("POST", "/api/v1/event-type", `{"name":"a.b","description":"A"}`)
	ep := must("POST", "/api/v1/app/f/endpoint", `{"url":"https://f.example.com","uid":"e"}`)
	msg := must("POST", "/api/v1/app/f/msg", `{"eventType":"a.b","payload":{}}`)
	op := must("POST", "/api/v1/operational-webhook/endpoint", `{"url":"https://ops.example.com"}`)
	vars := strings.NewReplacer("{app_id}", "f", "{endpoint_id}", ep, "{sink_id}", ep, "{msg_id}", msg, "{attempt_id}", "atmpt_x",
		"{task_id}", "qtask_x", "{token_id}", "tok_x", "{event_type_name}", "a.b", "{consumer_id}", "c")
	for pattern := range httpapi.RouteAccess() {
		method, path, _ := strings.Cut(pattern, " ")
		if method == "GET" || method == "DELETE" || strings.HasSuffix(path, "/logout") {
			continue
		}
		if strings.HasPrefix(path, "/api/v1/operational-webhook/endpoint/") {
			path = strings.ReplaceAll(path, "{endpoint_id}", op)
		}
		bt.routes = append(bt.routes, method+" "+vars.Replace(path))
	}
	slices.Sort(bt.routes)
	return bt
}

func (bt *bodyTarget) call(method, path, body string) (int, []byte) {
	req, _ := http.NewRequest(method, bt.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// check sends body to route number i and reports what is wrong with the
// answer: a 5xx, or anything but JSON in Svix's error format for a 4xx.
func (bt *bodyTarget) check(i int, body []byte) error {
	method, path, _ := strings.Cut(bt.routes[i%len(bt.routes)], " ")
	code, b := bt.call(method, path, string(body))
	if code >= 500 || code == 0 {
		return fmt.Errorf("%s %s with %q: %d %s", method, path, body, code, b)
	}
	if len(b) == 0 {
		return nil // 204
	}
	var out struct {
		Code   *string         `json:"code"`
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&out); err != nil {
		return fmt.Errorf("%s %s with %q: %d, body not JSON: %s", method, path, body, code, b)
	}
	if code >= 400 && (out.Detail == nil || (code != 422 && out.Code == nil)) {
		return fmt.Errorf("%s %s with %q: %d, not Svix's error format: %s", method, path, body, code, b)
	}
	return nil
}

// FuzzRequestBodies sends arbitrary bodies to every route that takes one
// (each request type's JSON decoding and validation) on a real SQLite
// store: the answer is never a 5xx and always JSON in Svix's format.
func FuzzRequestBodies(f *testing.F) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(f.TempDir(), "f.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	bt := newBodyTarget(f, st)
	for i := range bt.routes {
		for _, seed := range bodySeeds {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		if err := bt.check(int(route), body); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRequestBodiesOnPostgres sends the fuzz seeds to every route on
// PostgreSQL, whose text columns refuse what SQLite's take (NUL).
func TestRequestBodiesOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: pgtest.Schema(t, url, "herald_httpapi")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bt := newBodyTarget(t, st)
	for i := range bt.routes {
		for _, seed := range bodySeeds {
			if err := bt.check(i, []byte(seed)); err != nil {
				t.Error(err)
			}
		}
	}
}
