package main

import (
	"strings"
	"testing"
)

// wantSvixError fails unless r is an error with Svix's body: status, code
// and a detail.
func wantSvixError(t *testing.T, r apiResponse, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if m := r.JSON(t); m["code"] != code || str(m, "detail") == "" {
		t.Fatalf("error body %s, want code %q and a detail", r.Body, code)
	}
}

// TestAccessTokens runs the scoped-access flow on a real server: an
// app-portal token manages its application and is refused (403) on
// another one and on admin APIs; an admin token created through the API
// works, is listed without its secret, and is refused (401) once revoked;
// the configured admin token is not listed and keeps working; no secret
// reaches the server's log.
func TestAccessTokens(t *testing.T) {
	srv := startServer(t, "HERALD_LOG_LEVEL=debug")
	mine, other := srv.createApp(t, "mine"), srv.createApp(t, "other")
	portal := str(srv.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+mine, map[string]any{"expiry": 3600}), "token")
	if r := srv.callAs(t, portal, "POST", "/api/v1/app/"+mine+"/endpoint", map[string]any{"url": "https://mine.example.com"}); r.Status != 201 {
		t.Fatalf("portal token on its app: %d %s", r.Status, r.Body)
	}
	for _, p := range []string{"/api/v1/app/" + other, "/api/v1/app/" + other + "/endpoint", "/api/v1/app/" + other + "/msg", "/api/v1/auth/token"} {
		wantSvixError(t, srv.callAs(t, portal, "GET", p, nil), 403, "insufficient access")
	}

	created := srv.must(t, 201, "POST", "/api/v1/auth/token", map[string]any{"name": "deploys"})
	secret, id := str(created, "token"), str(created, "id")
	if r := srv.callAs(t, secret, "POST", "/api/v1/app", map[string]any{"name": "by token"}); r.Status != 201 {
		t.Fatalf("new admin token: %d %s", r.Status, r.Body)
	}
	listed := srv.call(t, "GET", "/api/v1/auth/token", nil)
	if listed.Status != 200 || !strings.Contains(string(listed.Body), id) || strings.Contains(string(listed.Body), secret) ||
		strings.Contains(string(listed.Body), testToken) {
		t.Fatalf("listing: %d %s", listed.Status, listed.Body)
	}
	srv.must(t, 204, "DELETE", "/api/v1/auth/token/"+id, nil)
	wantSvixError(t, srv.callAs(t, secret, "GET", "/api/v1/app", nil), 401, "authentication_failed")
	srv.must(t, 200, "GET", "/api/v1/app", nil)

	for _, s := range []string{secret, portal, testToken} {
		if strings.Contains(srv.stdout.String()+srv.stderr.String(), s) {
			t.Errorf("a token secret reached the server's output")
		}
	}
}
