package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/httpapi"
)

// world is one application with an object of each kind, and tokens.
type world struct {
	vars    map[string]string // path placeholder -> value
	own     string            // portal token of the application
	expired string            // portal token of the application, expired
}

// newWorld makes application uid with an endpoint, a message, a
// background task and an admin token to revoke, and portal tokens, one of them expired (the harness clock moves an hour
// and a minute forward).
func newWorld(h *apiHarness, uid string) *world {
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": uid, "uid": uid})
	ep := field(h.expect(201, "POST", "/api/v1/app/"+uid+"/endpoint", map[string]any{"url": "https://" + uid + ".example.com/hook"}), "id")
	msg := field(h.expect(202, "POST", "/api/v1/app/"+uid+"/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{}}), "id")
	task := field(h.expect(202, "POST", "/api/v1/app/"+uid+"/endpoint/"+ep+"/recover",
		map[string]any{"since": h.clock().Add(-time.Hour).Format(time.RFC3339)}), "id")
	tok := field(h.expect(201, "POST", "/api/v1/auth/token", map[string]any{"name": uid}), "id")
	expired := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/"+uid, map[string]any{"expiry": 3600}), "token")
	h.advance(61 * time.Minute)
	own := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/"+uid, map[string]any{}), "token")
	return &world{own: own, expired: expired, vars: map[string]string{
		"{app_id}": uid, "{endpoint_id}": ep, "{sink_id}": ep, "{msg_id}": msg, "{attempt_id}": "atmpt_none",
		"{task_id}": task, "{token_id}": tok, "{event_type_name}": "a.b", "{consumer_id}": "worker",
	}}
}

// path fills pattern's placeholders with w's objects; an operational
// endpoint's route gets the operational endpoint.
func (w *world) path(pattern string, opEp string) string {
	_, p, _ := strings.Cut(pattern, " ")
	if strings.HasPrefix(p, "/api/v1/operational-webhook/") {
		p = strings.ReplaceAll(p, "{endpoint_id}", opEp)
	}
	for k, v := range w.vars {
		p = strings.ReplaceAll(p, k, v)
	}
	return p
}

// TestAccessMatrix sends every route with no token, a wrong token, an
// expired token, a token of another application, the application's own
// token and an admin token. Only the admin token and the right scoped
// token get through; the others get 401 or 403 in Svix's error format,
// and no refusal echoes the token presented.
func TestAccessMatrix(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/event-type", map[string]any{"name": "a.b", "description": "A"})
	routes := httpapi.RouteAccess()
	patterns := make([]string, 0, len(routes))
	for p := range routes {
		patterns = append(patterns, p)
	}
	slices.Sort(patterns)
	if len(patterns) < 60 {
		t.Fatalf("only %d routes listed", len(patterns))
	}
	// Some body fields so that writes get past decoding: what matters is
	// only whether the guard lets the request through.
	body := map[string]any{"name": "x", "url": "https://x.example.com/hook", "eventType": "a.b", "payload": map[string]any{},
		"since": "2026-01-01T00:00:00Z", "description": "d", "headers": map[string]string{"X-A": "b"}}
	other := newWorld(h, "other")
	for i, pattern := range patterns {
		level := routes[pattern]
		method, _, _ := strings.Cut(pattern, " ")
		mine := newWorld(h, fmt.Sprintf("mine%d", i))
		// A fresh token of the other application each time: logout
		// revokes the token it is sent with.
		other.own = field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/other", map[string]any{}), "token")
		opEp := field(h.expect(201, "POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": "https://ops.example.com/m"}), "id")
		path := mine.path(pattern, opEp)
		refused := func(who, token string, status int, code string) {
			t.Helper()
			r := h.do(token, method, path, body)
			if r.status != status || !strings.Contains(string(r.body), `"code":"`+code+`"`) {
				t.Errorf("%s as %s: %d %s, want %d %s", pattern, who, r.status, r.body, status, code)
			}
			if token != "" && strings.Contains(string(r.body), token) {
				t.Errorf("%s as %s: the refusal echoes the token", pattern, who)
			}
		}
		through := func(who, token string) reply {
			t.Helper()
			r := h.do(token, method, path, body)
			if r.status == 401 || r.status == 403 {
				t.Errorf("%s as %s: %d %s, want it let through", pattern, who, r.status, r.body)
			}
			return r
		}
		if level == "public" {
			through("nobody", "")
			continue
		}
		refused("nobody", "", 401, "authentication_failed")
		refused("a wrong token", "hrdp_"+strings.Repeat("x", 40), 401, "authentication_failed")
		refused("an expired token", mine.expired, 401, "authentication_failed")
		switch level {
		case "admin":
			refused("another application's token", other.own, 403, "insufficient access")
			refused("the application's token", mine.own, 403, "insufficient access")
		case "app":
			refused("another application's token", other.own, 403, "insufficient access")
			through("the application's token", mine.own)
		case "any":
			// Scoped in the handler: another application's objects are
			// not found.
			if r := h.do(other.own, method, path, body); strings.Contains(pattern, "{task_id}") && r.status != 404 {
				t.Errorf("%s as another application's token: %d %s, want 404", pattern, r.status, r.body)
			}
			through("the application's token", mine.own)
		default:
			t.Fatalf("%s: unknown access %q", pattern, level)
		}
		through("admin", adminToken)
	}
}
