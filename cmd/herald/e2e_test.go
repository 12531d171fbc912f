package main

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-webhooks/herald/signing"
)

// TestFanOutFilters proves a message goes to every enabled endpoint whose
// event types and channels match, and to no other.
func TestFanOutFilters(t *testing.T) {
	s := startServer(t)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "fan-out")
	eps := map[string]map[string]any{
		"all":        {"url": rc.URL + "/all"},
		"type":       {"url": rc.URL + "/type", "eventTypes": []string{"user.created"}},
		"chan":       {"url": rc.URL + "/chan", "channels": []string{"ch1"}},
		"type+chan2": {"url": rc.URL + "/type-chan2", "eventTypes": []string{"user.created"}, "channels": []string{"ch2"}},
		"other-type": {"url": rc.URL + "/other-type", "eventTypes": []string{"user.deleted"}},
		"disabled":   {"url": rc.URL + "/disabled", "disabled": true},
	}
	ids := map[string]string{}
	for name, fields := range eps {
		ids[name], _ = s.createEndpoint(t, app, fields)
	}
	cases := []struct {
		msg  map[string]any
		want []string
	}{
		{map[string]any{"eventType": "user.created", "channels": []string{"ch1"}, "payload": map[string]any{"n": 1}}, []string{"all", "chan", "type"}},
		{map[string]any{"eventType": "user.created", "channels": []string{"ch2", "ch9"}, "payload": map[string]any{"n": 2}}, []string{"all", "type", "type+chan2"}},
		{map[string]any{"eventType": "order.paid", "payload": map[string]any{"n": 3}}, []string{"all"}},
	}
	for i, tc := range cases {
		msgID := s.send(t, app, tc.msg)
		waitFor(t, 5*time.Second, fmt.Sprintf("case %d delivered", i), func() bool { return len(rc.byMsg(msgID)) >= len(tc.want) })
		dests := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+msgID+"/endpoint", nil))
		var got []string
		for _, d := range dests {
			for name, id := range ids {
				if str(d, "id") == id {
					got = append(got, name)
				}
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("case %d: destinations %v, want %v", i, got, tc.want)
		}
		var paths []string
		for _, r := range rc.byMsg(msgID) {
			_ = r
		}
		for _, d := range dests {
			paths = append(paths, str(d, "url"))
		}
		if n := len(rc.byMsg(msgID)); n != len(tc.want) {
			t.Errorf("case %d: receiver got %d requests, want %d (%v)", i, n, len(tc.want), paths)
		}
	}
}

// TestSignedDelivery proves the attempt carries the Standard Webhooks
// headers, the payload byte for byte, the endpoint's custom headers, and a
// signature the reference library accepts.
func TestSignedDelivery(t *testing.T) {
	s := startServer(t)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "signed")
	ep, secret := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	s.must(t, 204, "PUT", "/api/v1/app/"+app+"/endpoint/"+ep+"/headers", map[string]any{"headers": map[string]string{"X-Customer": "acme"}})

	payload := `{"type": "user.created",  "data": {"id": 1, "tags": ["a", "b"]}}`
	raw := `{"eventType":"user.created","payload":` + payload + `}`
	msgID := str(s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", raw), "id")
	waitFor(t, 5*time.Second, "delivery", func() bool { return len(rc.byMsg(msgID)) == 1 })
	got := rc.byMsg(msgID)[0]

	if string(got.Body) != payload {
		t.Errorf("body not byte for byte:\n got %s\nwant %s", got.Body, payload)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if h := got.Header.Get("X-Customer"); h != "acme" {
		t.Errorf("custom header X-Customer = %q", h)
	}
	ts, err := strconv.ParseInt(got.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q", got.Header.Get("webhook-timestamp"))
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Errorf("reference library rejects the delivery: %v", err)
	}
	key, _ := signing.ParseKey(secret)
	if err := signing.Verify(key, got.Header.Get("webhook-id"), got.Header.Get("webhook-timestamp"), got.Header.Get("webhook-signature"), got.Body, time.Now(), signing.DefaultTolerance); err != nil {
		t.Errorf("signing.Verify rejects the delivery: %v", err)
	}
}

// TestRetriesThenRecover proves failed attempts follow the retry schedule,
// are all recorded, end in failure, and that recover sends again.
func TestRetriesThenRecover(t *testing.T) {
	s := startServer(t, "HERALD_RETRY_SCHEDULE=300ms,600ms")
	var mu sync.Mutex
	healthy := false
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := healthy
		mu.Unlock()
		if ok {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(500)
		fmt.Fprint(w, "boom")
	})
	app := s.createApp(t, "retries")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	start := time.Now()
	msgID := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{}})

	attemptsPath := "/api/v1/app/" + app + "/attempt/msg/" + msgID
	waitFor(t, 10*time.Second, "3 failed attempts", func() bool {
		return len(items(t, s.must(t, 200, "GET", attemptsPath, nil))) == 3
	})
	reqs := rc.byMsg(msgID)
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d attempts, want 3", len(reqs))
	}
	gaps := []time.Duration{reqs[1].At.Sub(reqs[0].At), reqs[2].At.Sub(reqs[1].At)}
	if gaps[0] < 280*time.Millisecond || gaps[1] < 580*time.Millisecond {
		t.Errorf("gaps %v do not follow the 300ms,600ms schedule", gaps)
	}
	if reqs[0].At.Sub(start) > 2*time.Second {
		t.Errorf("first attempt came %v after the message", reqs[0].At.Sub(start))
	}
	for i, a := range items(t, s.must(t, 200, "GET", attemptsPath, nil)) {
		if a["status"] != 2.0 || a["responseStatusCode"] != 500.0 || a["response"] != "boom" || a["triggerType"] != 0.0 {
			t.Errorf("attempt %d: %v", i, a)
		}
	}
	destPath := "/api/v1/app/" + app + "/msg/" + msgID + "/endpoint"
	waitFor(t, 5*time.Second, "delivery failed", func() bool {
		d := items(t, s.must(t, 200, "GET", destPath, nil))
		return len(d) == 1 && d[0]["status"] == 2.0
	})
	// No 4th attempt after the schedule is spent.
	time.Sleep(900 * time.Millisecond)
	if n := len(rc.byMsg(msgID)); n != 3 {
		t.Fatalf("got %d attempts after the schedule was spent, want 3", n)
	}

	mu.Lock()
	healthy = true
	mu.Unlock()
	since := start.Add(-time.Minute).UTC().Format(time.RFC3339)
	rec := s.must(t, 202, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/recover", map[string]any{"since": since})
	if !strings.HasPrefix(str(rec, "id"), "qtask_") || str(rec, "task") != "endpoint.recover" {
		t.Errorf("recover answered %v", rec)
	}
	waitFor(t, 5*time.Second, "recovered delivery", func() bool {
		d := items(t, s.must(t, 200, "GET", destPath, nil))
		return len(d) == 1 && d[0]["status"] == 0.0
	})
}

// TestResend proves a manual resend makes a new attempt marked manual.
func TestResend(t *testing.T) {
	s := startServer(t)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "resend")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	msgID := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"x": 1}})
	waitFor(t, 5*time.Second, "first delivery", func() bool { return len(rc.byMsg(msgID)) == 1 })
	s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg/"+msgID+"/endpoint/"+ep+"/resend", nil)
	waitFor(t, 5*time.Second, "resent delivery", func() bool { return len(rc.byMsg(msgID)) == 2 })
	reqs := rc.byMsg(msgID)
	if string(reqs[0].Body) != string(reqs[1].Body) || reqs[1].Header.Get("webhook-id") != msgID {
		t.Errorf("resend differs from the first delivery")
	}
	waitFor(t, 5*time.Second, "two recorded attempts", func() bool {
		return len(items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/endpoint/"+ep, nil))) == 2
	})
	attempts := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/endpoint/"+ep, nil))
	if attempts[0]["triggerType"] != 1.0 || attempts[1]["triggerType"] != 0.0 {
		t.Errorf("trigger types newest first = %v, %v; want manual (1), scheduled (0)", attempts[0]["triggerType"], attempts[1]["triggerType"])
	}
}

// TestSecretRotation proves that during the grace period every delivery
// carries a signature for the new and for the old secret.
func TestSecretRotation(t *testing.T) {
	s := startServer(t)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "rotation")
	ep, oldSecret := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	s.must(t, 204, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret/rotate", map[string]any{"gracePeriodSeconds": 3600})
	newSecret := str(s.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret", nil), "key")
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "whsec_") {
		t.Fatalf("rotation gave %q (old %q)", newSecret, oldSecret)
	}
	msgID := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"x": 1}})
	waitFor(t, 5*time.Second, "delivery", func() bool { return len(rc.byMsg(msgID)) == 1 })
	got := rc.byMsg(msgID)[0]
	if n := len(strings.Fields(got.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("webhook-signature has %d signatures, want 2: %q", n, got.Header.Get("webhook-signature"))
	}
	for _, secret := range []string{oldSecret, newSecret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(got.Body, got.Header); err != nil {
			t.Errorf("secret %.12s... does not verify: %v", secret, err)
		}
	}
}

// TestDuplicateEventIDAndIdempotency proves a second message with the same
// eventId is a 409, and a repeated idempotency key replays the first answer.
func TestDuplicateEventIDAndIdempotency(t *testing.T) {
	s := startServer(t)
	app := s.createApp(t, "dupes")
	msg := map[string]any{"eventType": "a.b", "eventId": "evt-1", "payload": map[string]any{}}
	first := s.send(t, app, msg)
	r := s.call(t, "POST", "/api/v1/app/"+app+"/msg", msg)
	if r.Status != 409 || str(r.JSON(t), "code") != "conflict" {
		t.Errorf("duplicate eventId: %d %s", r.Status, r.Body)
	}
	if got := str(s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/evt-1", nil), "id"); got != first {
		t.Errorf("message by eventId = %q, want %q", got, first)
	}

	body := map[string]any{"eventType": "a.b", "payload": map[string]any{"k": 1}}
	a := s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", body, "idempotency-key", "key-123")
	b := s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", body, "idempotency-key", "key-123")
	if str(a, "id") != str(b, "id") {
		t.Errorf("idempotency key did not replay: %s then %s", str(a, "id"), str(b, "id"))
	}
	c := s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", body, "idempotency-key", "key-456")
	if str(c, "id") == str(a, "id") {
		t.Errorf("a new key replayed an old answer")
	}
	if n := len(items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg", nil))); n != 3 {
		t.Errorf("%d messages stored, want 3", n)
	}
}

// TestPagination walks a list forward and back across pages.
func TestPagination(t *testing.T) {
	s := startServer(t)
	var want []string
	for i := 0; i < 7; i++ {
		want = append(want, s.createApp(t, fmt.Sprintf("app-%d", i)))
	}
	var got []string
	var pages []map[string]any
	iter := ""
	for {
		path := "/api/v1/app?limit=3"
		if iter != "" {
			path += "&iterator=" + iter
		}
		page := s.must(t, 200, "GET", path, nil)
		pages = append(pages, page)
		for _, it := range items(t, page) {
			got = append(got, str(it, "id"))
		}
		if page["done"] == true {
			break
		}
		iter = str(page, "iterator")
		if len(pages) > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if !slices.Equal(got, want) || len(pages) != 3 {
		t.Fatalf("walked %d pages: %v, want %v", len(pages), got, want)
	}
	back := s.must(t, 200, "GET", "/api/v1/app?limit=3&iterator="+str(pages[2], "prevIterator"), nil)
	var backIDs []string
	for _, it := range items(t, back) {
		backIDs = append(backIDs, str(it, "id"))
	}
	if !slices.Equal(backIDs, want[3:6]) {
		t.Errorf("walking back gave %v, want %v", backIDs, want[3:6])
	}
	r := s.call(t, "GET", "/api/v1/app?limit=251", nil)
	if r.Status != 422 {
		t.Errorf("limit=251: status %d, want 422", r.Status)
	}
}

// TestErrorBodies checks the Svix error formats for 401, 404 and 422.
func TestErrorBodies(t *testing.T) {
	s := startServer(t)
	for _, token := range []string{"", "wrong-token-wrong-token"} {
		r := s.callAs(t, token, "GET", "/api/v1/app", nil)
		if r.Status != 401 || str(r.JSON(t), "code") != "authentication_failed" || str(r.JSON(t), "detail") == "" {
			t.Errorf("token %q: %d %s", token, r.Status, r.Body)
		}
	}
	r := s.call(t, "GET", "/api/v1/app/app_missing", nil)
	if r.Status != 404 || str(r.JSON(t), "code") != "not_found" {
		t.Errorf("unknown app: %d %s", r.Status, r.Body)
	}
	app := s.createApp(t, "errors")
	r = s.call(t, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": "not a url", "eventTypes": []string{"bad type!"}})
	if r.Status != 422 {
		t.Fatalf("bad endpoint: %d %s", r.Status, r.Body)
	}
	detail, ok := r.JSON(t)["detail"].([]any)
	if !ok || len(detail) < 2 {
		t.Fatalf("422 detail should list both problems: %s", r.Body)
	}
	first := detail[0].(map[string]any)
	if loc, _ := first["loc"].([]any); len(loc) < 2 || loc[0] != "body" || str(first, "msg") == "" || str(first, "type") == "" {
		t.Errorf("422 item %v lacks loc/msg/type", first)
	}
	if s.call(t, "GET", "/api/v1/health", nil).Status != 204 {
		t.Errorf("health is not 204")
	}
}

// TestSSRFBlocksLoopback proves that without an allow-list a loopback
// destination is never contacted and the attempt records why.
func TestSSRFBlocksLoopback(t *testing.T) {
	s := startServer(t, "HERALD_ALLOWED_DESTINATION_CIDRS=", "HERALD_RETRY_SCHEDULE=")
	rc := newReceiver(t, nil)
	app := s.createApp(t, "ssrf")
	s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	msgID := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{}})
	var attempts []map[string]any
	waitFor(t, 5*time.Second, "blocked attempt", func() bool {
		attempts = items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID, nil))
		return len(attempts) == 1
	})
	a := attempts[0]
	if a["status"] != 2.0 || a["responseStatusCode"] != 0.0 || !strings.Contains(str(a, "response"), "blocked") {
		t.Errorf("attempt %v: want a failure with code 0 saying blocked", a)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("receiver was contacted %d times", n)
	}
}

// TestSlowEndpointDoesNotDelayFast proves a receiver that takes 10 s to
// answer holds up no delivery to another endpoint.
func TestSlowEndpointDoesNotDelayFast(t *testing.T) {
	s := startServer(t, "HERALD_REQUEST_TIMEOUT=15s", "HERALD_ENDPOINT_CONCURRENCY=4", "HERALD_SHUTDOWN_TIMEOUT=1s")
	release := make(chan struct{})
	slow := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(200)
	})
	defer close(release)
	fast := newReceiver(t, nil)
	app := s.createApp(t, "isolation")
	s.createEndpoint(t, app, map[string]any{"url": slow.URL, "eventTypes": []string{"slow"}})
	s.createEndpoint(t, app, map[string]any{"url": fast.URL, "eventTypes": []string{"fast"}})
	for i := 0; i < 20; i++ {
		s.send(t, app, map[string]any{"eventType": "slow", "payload": map[string]any{"i": i}})
	}
	waitFor(t, 5*time.Second, "slow endpoint busy", func() bool { return len(slow.requests()) >= 4 })
	start := time.Now()
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, s.send(t, app, map[string]any{"eventType": "fast", "payload": map[string]any{"i": i}}))
	}
	waitFor(t, 3*time.Second, "fast deliveries while the slow endpoint hangs", func() bool { return len(fast.requests()) == len(ids) })
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("fast endpoint took %v", d)
	}
	if n := len(slow.requests()); n > 4 {
		t.Errorf("slow endpoint had %d concurrent requests, bound is 4", n)
	}
}
