package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/httpapi"
)

// TestPortalTokenExpiry checks Svix's expiry field: the token works until
// the given number of seconds have passed and is refused (401) after;
// values outside an hour to a week are a 422 naming the field.
func TestPortalTokenExpiry(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Mine", "uid": "mine"})
	tok := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{"expiry": 3600}), "token")
	long := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{}), "token")
	h.advance(59 * time.Minute)
	if r := h.do(tok, "GET", "/api/v1/app/mine/endpoint", nil); r.status != 200 {
		t.Fatalf("before expiry: %d %s", r.status, r.body)
	}
	h.advance(2 * time.Minute)
	svixError(t, h.do(tok, "GET", "/api/v1/app/mine/endpoint", nil), 401, "authentication_failed")
	// Without expiry: the default, a week.
	if r := h.do(long, "GET", "/api/v1/app/mine/endpoint", nil); r.status != 200 {
		t.Fatalf("default expiry after an hour: %d %s", r.status, r.body)
	}
	h.advance(7 * 24 * time.Hour)
	svixError(t, h.do(long, "GET", "/api/v1/app/mine/endpoint", nil), 401, "authentication_failed")

	for _, bad := range []any{3599, 604801, -1, "soon"} {
		r := h.do(adminToken, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{"expiry": bad})
		if r.status != 422 || !strings.Contains(string(r.body), `"expiry"`) {
			t.Errorf("expiry %v: %d %s, want 422 naming expiry", bad, r.status, r.body)
		}
	}
}

// TestPortalTokenScope checks that an app-portal token reaches nothing
// but its application's endpoints, messages and attempts: other apps,
// their objects through its own app's paths, event types, the app list,
// portal access and the token API are refused.
func TestPortalTokenScope(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Mine", "uid": "mine"})
	other := field(h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Other", "uid": "other"}), "id")
	otherEp := field(h.expect(201, "POST", "/api/v1/app/other/endpoint", map[string]any{"url": "https://other.example.com"}), "id")
	otherMsg := field(h.expect(202, "POST", "/api/v1/app/other/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{}}), "id")
	h.expect(201, "POST", "/api/v1/event-type", map[string]any{"name": "a.b", "description": "A"})
	tok := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{}), "token")

	ep := field(mustStatus(t, h.do(tok, "POST", "/api/v1/app/mine/endpoint", map[string]any{"url": "https://mine.example.com"}), 201), "id")
	msg := field(mustStatus(t, h.do(tok, "POST", "/api/v1/app/mine/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{}}), 202), "id")
	for _, p := range []string{"/api/v1/app/mine", "/api/v1/app/mine/endpoint/" + ep, "/api/v1/app/mine/msg/" + msg,
		"/api/v1/app/mine/attempt/msg/" + msg, "/api/v1/app/mine/attempt/endpoint/" + ep} {
		mustStatus(t, h.do(tok, "GET", p, nil), 200)
	}
	mustStatus(t, h.do(tok, "PATCH", "/api/v1/app/mine/endpoint/"+ep, map[string]any{"description": "x"}), 200)

	forbidden := []struct{ method, path string }{
		{"GET", "/api/v1/app/" + other}, {"GET", "/api/v1/app/other/endpoint"}, {"GET", "/api/v1/app/other/endpoint/" + otherEp},
		{"POST", "/api/v1/app/other/msg"}, {"GET", "/api/v1/app/other/msg/" + otherMsg}, {"DELETE", "/api/v1/app/other"},
		{"GET", "/api/v1/app"}, {"POST", "/api/v1/app"}, {"PATCH", "/api/v1/app/mine"}, {"DELETE", "/api/v1/app/mine"},
		{"GET", "/api/v1/event-type"}, {"POST", "/api/v1/event-type"}, {"PATCH", "/api/v1/event-type/a.b"},
		{"DELETE", "/api/v1/event-type/a.b"}, {"POST", "/api/v1/auth/app-portal-access/mine"},
		{"GET", "/api/v1/auth/token"}, {"POST", "/api/v1/auth/token"}, {"DELETE", "/api/v1/auth/token/tok_x"},
	}
	for _, f := range forbidden {
		r := h.do(tok, f.method, f.path, map[string]any{"name": "x", "url": "https://x.example.com", "eventType": "a.b", "payload": map[string]any{}})
		if r.status != 403 {
			t.Errorf("%s %s with a portal token: %d %s, want 403", f.method, f.path, r.status, r.body)
			continue
		}
		svixError(t, r, 403, "insufficient access")
	}
	// Another app's objects through its own app's path are not found.
	for _, p := range []string{"/api/v1/app/mine/endpoint/" + otherEp, "/api/v1/app/mine/msg/" + otherMsg} {
		svixError(t, h.do(tok, "GET", p, nil), 404, "not_found")
	}
}

// TestAdminTokens checks the admin token API: a created token is shown
// once, has full access, is listed without its secret, and is refused
// (401) once revoked; the configured admin token is not listed and works
// throughout.
func TestAdminTokens(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	created := h.expect(201, "POST", "/api/v1/auth/token", map[string]any{"name": "ci deploys"})
	secret, id := field(created, "token"), field(created, "id")
	if !strings.HasPrefix(secret, "hrda_") || !strings.HasPrefix(id, "tok_") || field(created, "name") != "ci deploys" ||
		!strings.HasPrefix(secret, field(created, "prefix")) || created["expiresAt"] != nil {
		t.Fatalf("created %v", created)
	}
	mustStatus(t, h.do(secret, "POST", "/api/v1/app", map[string]any{"name": "By token"}), 201)
	short := mustStatus(t, h.do(secret, "POST", "/api/v1/auth/token", map[string]any{"expiry": 60}), 201)
	second, shortSecret := field(short, "id"), field(short, "token")

	listed := data(t, h.expect(200, "GET", "/api/v1/auth/token", nil))
	if len(listed) != 2 || field(listed[0], "id") != id || field(listed[1], "id") != second || listed[1]["expiresAt"] == nil {
		t.Fatalf("listed %v", listed)
	}
	for _, l := range listed {
		if _, ok := l["token"]; ok {
			t.Errorf("a listing shows a secret: %v", l)
		}
	}
	if body := string(h.do(adminToken, "GET", "/api/v1/auth/token", nil).body); strings.Contains(body, secret) {
		t.Errorf("the listing holds the secret: %s", body)
	}

	h.expect(204, "DELETE", "/api/v1/auth/token/"+id, nil)
	svixError(t, h.do(secret, "GET", "/api/v1/app", nil), 401, "authentication_failed")
	svixError(t, h.do(adminToken, "DELETE", "/api/v1/auth/token/"+id, nil), 404, "not_found")
	if listed := data(t, h.expect(200, "GET", "/api/v1/auth/token", nil)); len(listed) != 1 || field(listed[0], "id") != second {
		t.Fatalf("after revoke: %v", listed)
	}
	h.expect(200, "GET", "/api/v1/app", nil)

	for _, bad := range []map[string]any{{"expiry": 0}, {"name": strings.Repeat("n", 257)}, {"name": 5}} {
		if r := h.do(adminToken, "POST", "/api/v1/auth/token", bad); r.status != 422 {
			t.Errorf("create %v: %d %s, want 422", bad, r.status, r.body)
		}
	}
	// An expired token is refused.
	mustStatus(t, h.do(shortSecret, "GET", "/api/v1/app", nil), 200)
	h.advance(61 * time.Second)
	svixError(t, h.do(shortSecret, "GET", "/api/v1/app", nil), 401, "authentication_failed")
}

func mustStatus(t *testing.T, r reply, want int) map[string]any {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r.obj(t)
}

// TestPortalTokenReadOnly checks Svix's readOnly: the token reads its
// application's endpoints and messages and may change nothing (403).
func TestPortalTokenReadOnly(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Mine", "uid": "mine"})
	ep := field(h.expect(201, "POST", "/api/v1/app/mine/endpoint", map[string]any{"url": "https://mine.example.com"}), "id")
	tok := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{"readOnly": true}), "token")
	for _, p := range []string{"/api/v1/app/mine", "/api/v1/app/mine/endpoint", "/api/v1/app/mine/endpoint/" + ep, "/api/v1/app/mine/msg"} {
		mustStatus(t, h.do(tok, "GET", p, nil), 200)
	}
	for _, w := range []struct{ method, path string }{{"POST", "/api/v1/app/mine/endpoint"}, {"PATCH", "/api/v1/app/mine/endpoint/" + ep},
		{"DELETE", "/api/v1/app/mine/endpoint/" + ep}, {"POST", "/api/v1/app/mine/msg"}, {"POST", "/api/v1/app/mine/endpoint/" + ep + "/secret/rotate"}} {
		svixError(t, h.do(tok, w.method, w.path, map[string]any{"url": "https://x.example.com", "eventType": "a.b", "payload": map[string]any{}}), 403, "insufficient access")
	}
	mustStatus(t, h.do(adminToken, "GET", "/api/v1/app/mine/endpoint/"+ep, nil), 200)
	// A token without readOnly writes.
	rw := field(h.expect(200, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{"readOnly": false}), "token")
	mustStatus(t, h.do(rw, "PATCH", "/api/v1/app/mine/endpoint/"+ep, map[string]any{"description": "x"}), 200)
}
