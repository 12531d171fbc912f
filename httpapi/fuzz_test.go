package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/httpapi"
	"github.com/herald-webhooks/herald/sqlite"
)

// FuzzRequestBodies sends arbitrary bodies to every route that takes one
// (each request type's JSON decoding and validation) on a real store and
// checks that the answer is never a 5xx and always JSON in Svix's format:
// {code, detail} or a 422 list.
func FuzzRequestBodies(f *testing.F) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(f.TempDir(), "f.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{AdminToken: adminToken}, st))
	f.Cleanup(srv.Close)

	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	must := func(method, path, body string) map[string]any {
		code, b := call(method, path, body)
		var m map[string]any
		if code >= 300 || json.Unmarshal(b, &m) != nil {
			f.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		return m
	}
	must("POST", "/api/v1/app", `{"name":"F","uid":"f"}`)
	must("POST", "/api/v1/event-type", `{"name":"a.b","description":"A"}`)
	ep := must("POST", "/api/v1/app/f/endpoint", `{"url":"https://f.example.com","uid":"e"}`)["id"].(string)
	msg := must("POST", "/api/v1/app/f/msg", `{"eventType":"a.b","payload":{}}`)["id"].(string)
	op := must("POST", "/api/v1/operational-webhook/endpoint", `{"url":"https://ops.example.com"}`)["id"].(string)
	vars := strings.NewReplacer("{app_id}", "f", "{endpoint_id}", ep, "{sink_id}", ep, "{msg_id}", msg, "{attempt_id}", "atmpt_x",
		"{task_id}", "qtask_x", "{token_id}", "tok_x", "{event_type_name}", "a.b", "{consumer_id}", "c")

	var routes []string // "METHOD path" of every route with a body
	for pattern := range httpapi.RouteAccess() {
		method, path, _ := strings.Cut(pattern, " ")
		if method == "GET" || method == "DELETE" || strings.HasSuffix(path, "/logout") {
			continue
		}
		if strings.HasPrefix(path, "/api/v1/operational-webhook/endpoint/") {
			path = strings.ReplaceAll(path, "{endpoint_id}", op)
		}
		routes = append(routes, method+" "+vars.Replace(path))
	}
	slices.Sort(routes)
	for i := range routes {
		for _, seed := range []string{`{}`, `{"name":"x","url":"https://x.example.com","eventType":"a.b","payload":{"k":[1,{"z":null}]}}`,
			`{"since":"2026-01-01T00:00:00Z","status":2,"eventTypes":["a.b"]}`, `{"headers":{"X-A":"b","X-B":null}}`,
			`{"filterTypes":["endpoint.disabled"],"channels":["c"],"metadata":{"k":"v"},"throttleRate":5}`,
			`{"name":` + strings.Repeat("[", 70), `{"payload":"\u0000","eventType":"\ud800"}`, `null`, `[]`, `"x"`, ``} {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		method, path, _ := strings.Cut(routes[int(route)%len(routes)], " ")
		code, b := call(method, path, string(body))
		if code >= 500 || code == 0 {
			t.Fatalf("%s %s with %q: %d %s", method, path, body, code, b)
		}
		if len(b) == 0 {
			return // 204
		}
		var out struct {
			Code   *string         `json:"code"`
			Detail json.RawMessage `json:"detail"`
		}
		if err := json.NewDecoder(bytes.NewReader(b)).Decode(&out); err != nil {
			t.Fatalf("%s %s with %q: %d, body not JSON: %s", method, path, body, code, b)
		}
		if code >= 400 && (out.Detail == nil || (code != 422 && out.Code == nil)) {
			t.Fatalf("%s %s with %q: %d, not Svix's error format: %s", method, path, body, code, b)
		}
	})
}
