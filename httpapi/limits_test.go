package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/httpapi"
)

// TestInputLimits sends one request over each input limit and checks it
// is refused with a 4xx in Svix's format naming what is wrong, while the
// same request at the limit passes.
func TestInputLimits(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	ep := field(h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.example.com"}), "id")

	nested := func(depth int) string { // a message whose body nests depth levels
		return `{"eventType":"a.b","payload":{"a":` + strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2) + `}}`
	}
	h.expect(202, "POST", "/api/v1/app/a/msg", nested(herald.MaxJSONDepth))
	tooDeep := h.do(adminToken, "POST", "/api/v1/app/a/msg", nested(herald.MaxJSONDepth+1))
	wantProblem(t, tooDeep, "deeper than 64")

	longURL := "/api/v1/app/a/msg?event_types=" + strings.Repeat("x", herald.MaxURLLength)
	svixError(t, h.do(adminToken, "GET", longURL, nil), 414, "uri_too_long")
	query := "/api/v1/app/a/msg?limit=5"
	for i := 0; i < herald.MaxQueryValues; i++ {
		query += fmt.Sprintf("&channel=c%d", i)
	}
	svixError(t, h.do(adminToken, "GET", query, nil), 400, "generic_error")

	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	types := many(herald.MaxEventTypesPerEndpoint+1, func(i int) string { return fmt.Sprintf("t.%d", i) })
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a/endpoint/"+ep, map[string]any{"eventTypes": types}), "eventTypes has too many items")
	h.expect(200, "PATCH", "/api/v1/app/a/endpoint/"+ep, map[string]any{"eventTypes": types[:herald.MaxEventTypesPerEndpoint]})

	meta := map[string]string{}
	for i := 0; i <= herald.MaxMetadataEntries; i++ {
		meta[fmt.Sprint(i)] = "v"
	}
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a", map[string]any{"metadata": meta}), "metadata has more than")
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a/endpoint/"+ep, map[string]any{"metadata": meta}), "metadata has more than")
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a/endpoint/"+ep,
		map[string]any{"metadata": map[string]string{"k": strings.Repeat("v", herald.MaxMetadataBytes)}}), "longer than")
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a/endpoint/"+ep,
		map[string]any{"description": strings.Repeat("d", herald.MaxDescriptionLength+1)}), "description must be at most")
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a", map[string]any{"name": strings.Repeat("n", herald.MaxDescriptionLength+1)}), "name must be at most")

	headers := map[string]string{}
	for i := 0; i < herald.MaxEndpointHeaders; i++ {
		headers[fmt.Sprintf("X-H%d", i)] = "v"
	}
	h.expect(204, "PUT", "/api/v1/app/a/endpoint/"+ep+"/headers", map[string]any{"headers": headers})
	wantProblem(t, h.do(adminToken, "PATCH", "/api/v1/app/a/endpoint/"+ep+"/headers",
		map[string]any{"headers": map[string]string{"X-One-More": "v"}}), "more than 50 headers")
	headers["X-H51"] = "v"
	wantProblem(t, h.do(adminToken, "PUT", "/api/v1/app/a/endpoint/"+ep+"/headers", map[string]any{"headers": headers}), "headers has more than")
	wantProblem(t, h.do(adminToken, "PUT", "/api/v1/app/a/endpoint/"+ep+"/headers",
		map[string]any{"headers": map[string]string{"X-Long": strings.Repeat("v", herald.MaxEndpointHeaderBytes)}}), "longer than")
}

// wantProblem checks r is a 422 whose problems mention msg.
func wantProblem(t *testing.T, r reply, msg string) {
	t.Helper()
	if r.status != 422 || !strings.Contains(string(r.body), msg) {
		t.Errorf("got %d %s, want 422 mentioning %q", r.status, r.body, msg)
	}
}

// TestNULRefused sends U+0000 in text fields, metadata keys, list items
// and query values: each is refused with a 4xx naming where (text columns
// cannot hold it), while a payload may carry it.
func TestNULRefused(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	wantProblemAt := func(r reply, loc string) {
		t.Helper()
		if r.status != 422 || !strings.Contains(string(r.body), loc) || !strings.Contains(string(r.body), "NUL") {
			t.Errorf("got %d %s, want 422 at %s", r.status, r.body, loc)
		}
	}
	wantProblemAt(h.do(adminToken, "POST", "/api/v1/app", `{"name":"a\u0000b"}`), `["body","name"]`)
	wantProblemAt(h.do(adminToken, "POST", "/api/v1/app", `{"name":"a","metadata":{"k\u0000":"v"}}`), `["body","metadata"]`)
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	wantProblemAt(h.do(adminToken, "POST", "/api/v1/app/a/endpoint", `{"url":"https://e.example.com","description":"\u0000"}`), `["body","description"]`)
	wantProblemAt(h.do(adminToken, "POST", "/api/v1/event-type", `{"name":"a.b","description":"x\u0000"}`), `["body","description"]`)
	wantProblemAt(h.do(adminToken, "POST", "/api/v1/app/a/msg", `{"eventType":"a.b","payload":{},"channels":["t\u0000"]}`), `["body","channels"]`)
	h.expect(202, "POST", "/api/v1/app/a/msg", `{"eventType":"a.b","payload":{"x":"\u0000"}}`)
	svixError(t, h.do(adminToken, "GET", "/api/v1/app/a/msg?channel=%00", nil), 400, "generic_error")
}

// TestEndpointsPerApplication creates endpoints up to the configured
// bound: one more is refused with a 400 saying so, in the application API
// and the operational one alike.
func TestEndpointsPerApplication(t *testing.T) {
	h := newAPI(t, httpapi.Config{MaxEndpointsPerApp: 2})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	for i := 0; i < 2; i++ {
		h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.example.com"})
		h.expect(201, "POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": "https://ops.example.com"})
	}
	for _, path := range []string{"/api/v1/app/a/endpoint", "/api/v1/operational-webhook/endpoint"} {
		r := h.do(adminToken, "POST", path, map[string]any{"url": "https://e.example.com"})
		svixError(t, r, 400, "generic_error")
		if !strings.Contains(string(r.body), "maximum of 2 endpoints") {
			t.Errorf("%s past the limit: %s", path, r.body)
		}
	}
}
