package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/httpapi"
)

func TestErrorFormats(t *testing.T) {
	h := newAPI(t, httpapi.Config{MaxBodyBytes: 2048})
	svixError(t, h.do("", "GET", "/api/v1/app", nil), 401, "authentication_failed")
	svixError(t, h.do("wrong-token", "GET", "/api/v1/app", nil), 401, "authentication_failed")
	svixError(t, h.do(adminToken, "GET", "/api/v1/nope", nil), 404, "not_found")
	svixError(t, h.do(adminToken, "DELETE", "/api/v1/app", nil), 405, "method_not_allowed")
	svixError(t, h.do(adminToken, "GET", "/api/v1/app/app_missing/endpoint", nil), 404, "not_found")
	svixError(t, h.do(adminToken, "POST", "/api/v1/app", `{"name": `), 400, "generic_error")
	svixError(t, h.do(adminToken, "POST", "/api/v1/app", `{"name":"`+strings.Repeat("x", 4096)+`"}`), 413, "payload_too_large")

	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.com", "uid": "e"})
	svixError(t, h.do(adminToken, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.com", "uid": "e"}), 409, "conflict")

	cases := []struct {
		method, path string
		body         any
		want         []string
	}{
		{"POST", "/api/v1/app/a/endpoint", map[string]any{"url": "ftp://x", "eventTypes": []string{"bad type"}}, []string{"body.url", "body.eventTypes"}},
		{"POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.com", "throttleRate": 0}, []string{"body.throttleRate"}},
		{"POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.com", "channels": []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}}, []string{"body.channels"}},
		{"POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.com", "secret": "short"}, []string{"body.secret"}},
		{"POST", "/api/v1/app", map[string]any{"name": 5}, []string{"body.name"}},
		{"POST", "/api/v1/app", map[string]any{}, []string{"body.name"}},
		{"POST", "/api/v1/app/a/msg", map[string]any{"eventType": "a.b", "payload": []int{1}, "payloadRetentionPeriod": 100}, []string{"body.payload", "body.payloadRetentionPeriod"}},
		{"POST", "/api/v1/app/a/endpoint/e/secret/rotate", map[string]any{"gracePeriodSeconds": -1}, []string{"body.gracePeriodSeconds"}},
		{"GET", "/api/v1/app?limit=0", nil, []string{"query.limit"}},
		{"GET", "/api/v1/app?limit=251", nil, []string{"query.limit"}},
		{"GET", "/api/v1/app?order=sideways", nil, []string{"query.order"}},
		{"GET", "/api/v1/app/a/attempt/endpoint/e?status_code_class=201", nil, []string{"query.status_code_class"}},
	}
	for _, tc := range cases {
		got := validationLocs(t, h.do(adminToken, tc.method, tc.path, tc.body))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: 422 locs %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestPaginationBothWays(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	var all []string
	for i := 0; i < 7; i++ {
		all = append(all, field(h.expect(201, "POST", "/api/v1/app", map[string]any{"name": fmt.Sprint(i)}), "id"))
	}
	var pages [][]string
	var last map[string]any
	for path := "/api/v1/app?limit=3"; ; {
		last = h.expect(200, "GET", path, nil)
		pages = append(pages, ids(t, last, "id"))
		if last["done"] == true {
			break
		}
		path = "/api/v1/app?limit=3&iterator=" + field(last, "iterator")
	}
	if want := [][]string{all[0:3], all[3:6], all[6:]}; fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Fatalf("pages %v, want %v", pages, want)
	}
	back := h.expect(200, "GET", "/api/v1/app?limit=3&iterator="+field(last, "prevIterator"), nil)
	if got := ids(t, back, "id"); !slices.Equal(got, all[3:6]) {
		t.Errorf("back page %v, want %v", got, all[3:6])
	}
	desc := ids(t, h.expect(200, "GET", "/api/v1/app?order=descending&limit=2", nil), "id")
	if !slices.Equal(desc, []string{all[6], all[5]}) {
		t.Errorf("descending %v", desc)
	}
	empty := h.expect(200, "GET", "/api/v1/event-type", nil)
	if empty["iterator"] != nil || empty["done"] != true || len(data(t, empty)) != 0 {
		t.Errorf("empty list %v", empty)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	count := func() int { return len(data(t, h.expect(200, "GET", "/api/v1/app", nil))) }
	first := h.do(adminToken, "POST", "/api/v1/app", map[string]any{"name": "A"}, "idempotency-key", "auto_0b6c6a3e-5d2e-4d1b-9c41-5a1b1b2f9d10")
	second := h.do(adminToken, "POST", "/api/v1/app", map[string]any{"name": "A"}, "idempotency-key", "auto_0b6c6a3e-5d2e-4d1b-9c41-5a1b1b2f9d10")
	if first.status != 201 || second.status != 201 || string(first.body) != string(second.body) || count() != 1 {
		t.Fatalf("replay: %d %s / %d %s, %d apps", first.status, first.body, second.status, second.body, count())
	}
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "B"}, "idempotency-key", "other")
	if count() != 2 {
		t.Errorf("a new key did not create")
	}
	// A failed request is not kept: fixing it and retrying with the key works.
	if r := h.do(adminToken, "POST", "/api/v1/app", map[string]any{}, "idempotency-key", "fix-me"); r.status != 422 {
		t.Fatalf("invalid request: %d", r.status)
	}
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "C"}, "idempotency-key", "fix-me")

	// Concurrent duplicates create exactly one object.
	var wg sync.WaitGroup
	bodies := make([]string, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = string(h.do(adminToken, "POST", "/api/v1/app", map[string]any{"name": "D"}, "idempotency-key", "race").body)
		}()
	}
	wg.Wait()
	for _, b := range bodies {
		if b != bodies[0] {
			t.Fatalf("concurrent duplicates answered differently: %s vs %s", b, bodies[0])
		}
	}
	if count() != 4 {
		t.Errorf("%d apps after concurrent duplicates, want 4", count())
	}

	// Kept in the store: a new server over the same store replays it.
	h2 := &apiHarness{t: t, store: h.store}
	h2.srv = newAPIOver(t, h2)
	if again := h2.do(adminToken, "POST", "/api/v1/app", map[string]any{"name": "A"}, "idempotency-key", "auto_0b6c6a3e-5d2e-4d1b-9c41-5a1b1b2f9d10"); string(again.body) != string(first.body) {
		t.Errorf("replay after restart: %s", again.body)
	}
}

func TestAppPortalToken(t *testing.T) {
	h := newAPI(t, httpapi.Config{PortalTokenTTL: time.Hour})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Mine", "uid": "mine"})
	other := field(h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Other"}), "id")
	out := h.expect(200, "POST", "/api/v1/auth/app-portal-access/mine", map[string]any{})
	tok := field(out, "token")
	if tok == "" || !strings.Contains(field(out, "url"), tok) {
		t.Fatalf("portal access %v", out)
	}
	if r := h.do(tok, "GET", "/api/v1/app/mine", nil); r.status != 200 {
		t.Errorf("own app by uid: %d", r.status)
	}
	if r := h.do(tok, "POST", "/api/v1/app/mine/endpoint", map[string]any{"url": "https://e.com"}); r.status != 201 {
		t.Errorf("own endpoint create: %d %s", r.status, r.body)
	}
	if r := h.do(tok, "POST", "/api/v1/app/mine/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{}}); r.status != 202 {
		t.Errorf("own message: %d", r.status)
	}
	for _, p := range []string{"/api/v1/app/" + other, "/api/v1/app/" + other + "/endpoint", "/api/v1/app", "/api/v1/event-type"} {
		svixError(t, h.do(tok, "GET", p, nil), 403, "insufficient access")
	}
	// The application field creates a missing app too.
	created := h.expect(200, "POST", "/api/v1/auth/app-portal-access/new-one", map[string]any{"application": map[string]any{"name": "New"}})
	if r := h.do(field(created, "token"), "GET", "/api/v1/app/new-one", nil); r.status != 200 {
		t.Errorf("token for an app created with it: %d", r.status)
	}
	// Expired, then logged out.
	h.advance(2 * time.Hour)
	svixError(t, h.do(tok, "GET", "/api/v1/app/mine", nil), 401, "authentication_failed")
	h.advance(-2 * time.Hour)
	if r := h.do(tok, "POST", "/api/v1/auth/logout", nil); r.status != 204 {
		t.Errorf("logout: %d", r.status)
	}
	svixError(t, h.do(tok, "GET", "/api/v1/app/mine", nil), 401, "authentication_failed")
}
