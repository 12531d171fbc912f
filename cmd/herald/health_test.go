package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/signing"
)

// opEvent is an operational webhook as a receiver got it.
type opEvent struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	got  received
}

// msgID is the id of the operational message that carried the event.
func (e opEvent) msgID() string { return e.got.Header.Get("webhook-id") }

// opEvents decodes what the operational receiver got.
func opEvents(t *testing.T, rc *receiver) []opEvent {
	t.Helper()
	var out []opEvent
	for _, g := range rc.requests() {
		var ev opEvent
		if err := json.Unmarshal(g.Body, &ev); err != nil {
			t.Fatalf("operational webhook body %q: %v", g.Body, err)
		}
		ev.got = g
		out = append(out, ev)
	}
	return out
}

// waitOpEvent waits for an operational event of type typ about
// endpointID and returns it.
func waitOpEvent(t *testing.T, rc *receiver, typ, endpointID string) opEvent {
	t.Helper()
	var found opEvent
	waitFor(t, 30*time.Second, typ+" about "+endpointID, func() bool {
		for _, ev := range opEvents(t, rc) {
			if ev.Type == typ && ev.Data["endpointId"] == endpointID {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// checkSigned verifies an operational webhook's signature with Herald's
// signing package and with the Standard Webhooks reference library.
func checkSigned(t *testing.T, ev opEvent, secret string) {
	t.Helper()
	key, err := signing.ParseKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := ev.got.Header
	if err := signing.Verify(key, h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"),
		ev.got.Body, time.Now(), signing.DefaultTolerance); err != nil {
		t.Errorf("%s: signing.Verify: %v", ev.Type, err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(ev.got.Body, h); err != nil {
		t.Errorf("%s: reference library rejects it: %v", ev.Type, err)
	}
}

// TestAutoDisableAndOperationalWebhooks runs a real server with a short
// auto-disable period: an endpoint that always fails is disabled, shows
// when and why, and the operator's operational endpoint receives signed
// endpoint.disabled, then endpoint.enabled when it is enabled again by
// PATCH; a flaky endpoint causes message.attempt.exhausted, .failing and
// .recovered; and tokens scoped to an application cannot reach the
// operational-webhook API. It runs on the embedded store and on
// PostgreSQL.
func TestAutoDisableAndOperationalWebhooks(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testAutoDisable(t) })
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		testAutoDisable(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+testSchema(t, url))
	})
}

func testAutoDisable(t *testing.T, env ...string) {
	s := startServer(t, append([]string{"HERALD_AUTO_DISABLE_AFTER=1500ms"}, env...)...)
	ops := newReceiver(t, nil)
	const opPath = "/api/v1/operational-webhook/endpoint"
	bad := s.call(t, "POST", opPath, map[string]any{"url": ops.URL, "filterTypes": []string{"endpoint.nope"}})
	if bad.Status != http.StatusUnprocessableEntity || !strings.Contains(string(bad.Body), "filterTypes") {
		t.Fatalf("unknown filter type: %d %s", bad.Status, bad.Body)
	}
	opEp := s.must(t, 201, "POST", opPath, map[string]any{"url": ops.URL, "description": "ops", "uid": "pager",
		"filterTypes": herald.OperationalEventTypes})
	opID := str(opEp, "id")
	opSecret := str(s.must(t, 200, "GET", opPath+"/pager/secret", nil), "key")
	if list := items(t, s.must(t, 200, "GET", opPath, nil)); len(list) != 1 || str(list[0], "id") != opID {
		t.Fatalf("operational endpoint list: %v", list)
	}

	// An endpoint that always fails, and one that fails 4 times.
	deadApp := s.createApp(t, "dead")
	dead := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	deadEp, _ := s.createEndpoint(t, deadApp, map[string]any{"url": dead.URL})
	flakyApp := s.createApp(t, "flaky")
	flaky := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < herald.FailingStreak {
			w.WriteHeader(503)
		}
	})
	flakyEp, _ := s.createEndpoint(t, flakyApp, map[string]any{"url": flaky.URL})

	// The flaky endpoint's first message spends its 3 attempts
	// (exhausted); the second fails once more (the 4th failure in a row:
	// failing), then succeeds (recovered).
	first := s.send(t, flakyApp, map[string]any{"eventType": "user.created", "payload": map[string]any{"n": 1}})
	exhausted := waitOpEvent(t, ops, herald.OpMessageAttemptExhausted, flakyEp)
	if exhausted.Data["msgId"] != first || exhausted.Data["appId"] != flakyApp {
		t.Errorf("exhausted event data: %v", exhausted.Data)
	}
	second := s.send(t, flakyApp, map[string]any{"eventType": "user.created", "payload": map[string]any{"n": 2}})
	failing := waitOpEvent(t, ops, herald.OpMessageAttemptFailing, flakyEp)
	recovered := waitOpEvent(t, ops, herald.OpMessageAttemptRecovered, flakyEp)
	for _, ev := range []opEvent{failing, recovered} {
		last, _ := ev.Data["lastAttempt"].(map[string]any)
		if ev.Data["msgId"] != second || last == nil || last["id"] == nil {
			t.Errorf("%s event data: %v", ev.Type, ev.Data)
		}
		checkSigned(t, ev, opSecret)
	}

	// Keep the dead endpoint failing until the leader disables it.
	var lastSend time.Time
	var ep map[string]any
	sent := 0
	waitFor(t, 60*time.Second, "the failing endpoint to be disabled", func() bool {
		if time.Since(lastSend) > 200*time.Millisecond && sent < 300 {
			s.send(t, deadApp, map[string]any{"eventType": "user.created", "payload": map[string]any{}})
			lastSend, sent = time.Now(), sent+1
		}
		ep = s.must(t, 200, "GET", "/api/v1/app/"+deadApp+"/endpoint/"+deadEp, nil)
		return ep["disabled"] == true
	})
	if str(ep, "disabledAt") == "" || !strings.Contains(str(ep, "disabledReason"), "failed") {
		t.Errorf("disabled endpoint shows disabledAt %q, disabledReason %q", str(ep, "disabledAt"), str(ep, "disabledReason"))
	}
	disabled := waitOpEvent(t, ops, herald.OpEndpointDisabled, deadEp)
	checkSigned(t, disabled, opSecret)
	if disabled.Data["appId"] != deadApp || disabled.Data["failSince"] == nil || disabled.Data["trigger"] != "automatic" {
		t.Errorf("endpoint.disabled data: %v", disabled.Data)
	}

	// Enabling it again by PATCH clears the state and emits endpoint.enabled.
	ep = s.must(t, 200, "PATCH", "/api/v1/app/"+deadApp+"/endpoint/"+deadEp, map[string]any{"disabled": false})
	if ep["disabled"] != false || ep["disabledAt"] != nil || ep["disabledReason"] != nil {
		t.Errorf("re-enabled endpoint: %v", ep)
	}
	checkSigned(t, waitOpEvent(t, ops, herald.OpEndpointEnabled, deadEp), opSecret)

	// The operational endpoint's own deliveries are ordinary attempts,
	// and no event is about it.
	for _, ev := range opEvents(t, ops) {
		if ev.Data["endpointId"] == opID {
			t.Errorf("operational event about the operational endpoint: %s", ev.Type)
		}
	}

	// Only admin tokens reach the operational API; the operational
	// application is not an application of the application API.
	portal := str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+deadApp, map[string]any{}), "token")
	for _, c := range []struct{ method, path string }{{"GET", opPath}, {"POST", opPath}, {"GET", opPath + "/" + opID},
		{"GET", opPath + "/" + opID + "/secret"}, {"DELETE", opPath + "/" + opID}} {
		if r := s.callAs(t, portal, c.method, c.path, map[string]any{"url": ops.URL}); r.Status != http.StatusForbidden {
			t.Errorf("portal token %s %s: %d %s, want 403", c.method, c.path, r.Status, r.Body)
		}
	}
	for _, app := range items(t, s.must(t, 200, "GET", "/api/v1/app", nil)) {
		if str(app, "uid") == herald.OperationalAppUID {
			t.Errorf("the operational application is listed: %v", app)
		}
	}
	// Through the application API, an admin can read the operational
	// messages and their attempts, and change nothing.
	const opApp = "/api/v1/app/" + herald.OperationalAppUID
	var opMsgs []map[string]any
	waitFor(t, 10*time.Second, "the operational messages to be listed", func() bool {
		opMsgs = items(t, s.must(t, 200, "GET", opApp+"/msg?event_types="+herald.OpEndpointDisabled, nil))
		return len(opMsgs) > 0
	})
	if str(opMsgs[0], "id") != disabled.msgID() {
		t.Errorf("operational message listed %v, want %s", opMsgs[0], disabled.msgID())
	}
	attempts := items(t, s.must(t, 200, "GET", opApp+"/attempt/msg/"+disabled.msgID(), nil))
	if len(attempts) == 0 || attempts[0]["responseStatusCode"] != float64(200) || str(attempts[0], "endpointId") != opID {
		t.Errorf("attempts of the operational message: %v", attempts)
	}
	for _, c := range []struct{ method, path string }{{"POST", opApp + "/msg"}, {"POST", opApp + "/endpoint"},
		{"PUT", opApp}, {"DELETE", opApp}, {"DELETE", opApp + "/endpoint/" + opID}} {
		r := s.call(t, c.method, c.path, map[string]any{"eventType": "x", "payload": map[string]any{}, "url": ops.URL, "name": "x"})
		if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "operational-webhook") {
			t.Errorf("admin %s %s on the operational application: %d %s, want 403", c.method, c.path, r.Status, r.Body)
		}
	}
	s.must(t, 202, "POST", opApp+"/msg/"+disabled.msgID()+"/endpoint/"+opID+"/resend", nil)
	waitFor(t, 10*time.Second, "the resent operational message", func() bool {
		n := 0
		for _, ev := range opEvents(t, ops) {
			if ev.msgID() == disabled.msgID() {
				n++
			}
		}
		return n == 2
	})
	if r := s.callAs(t, portal, "GET", opApp+"/msg", nil); r.Status != http.StatusForbidden {
		t.Errorf("portal token reading the operational application: %d %s", r.Status, r.Body)
	}
	if r := s.call(t, "POST", "/api/v1/auth/app-portal-access/"+herald.OperationalAppUID, map[string]any{}); r.Status == http.StatusOK {
		t.Errorf("portal token for the operational application: %d %s", r.Status, r.Body)
	}
}

// TestOperationalEndpointAPI checks the operational-webhook endpoint API's
// shape: create, get, update, headers, secret rotation and delete.
func TestOperationalEndpointAPI(t *testing.T) {
	s := startServer(t)
	const opPath = "/api/v1/operational-webhook/endpoint"
	if list := items(t, s.must(t, 200, "GET", opPath, nil)); len(list) != 0 {
		t.Fatalf("list before any: %v", list)
	}
	if r := s.call(t, "GET", opPath+"/ep_none", nil); r.Status != http.StatusNotFound {
		t.Fatalf("get before any: %d", r.Status)
	}
	ep := s.must(t, 201, "POST", opPath, map[string]any{"url": "https://ops.example.com/a", "rateLimit": 5,
		"filterTypes": []string{"endpoint.disabled"}, "metadata": map[string]string{"team": "sre"}})
	id := str(ep, "id")
	if ep["rateLimit"] != float64(5) || ep["disabled"] != false || str(ep, "createdAt") == "" {
		t.Errorf("created: %v", ep)
	}
	got := s.must(t, 200, "GET", opPath+"/"+id, nil)
	if f, _ := got["filterTypes"].([]any); len(f) != 1 || f[0] != "endpoint.disabled" {
		t.Errorf("filterTypes: %v", got["filterTypes"])
	}
	upd := s.must(t, 200, "PUT", opPath+"/"+id, map[string]any{"url": "https://ops.example.com/b", "description": "pager"})
	if str(upd, "url") != "https://ops.example.com/b" || str(upd, "description") != "pager" || upd["filterTypes"] != nil {
		t.Errorf("updated: %v", upd)
	}
	s.must(t, 204, "PUT", opPath+"/"+id+"/headers", map[string]any{"headers": map[string]string{"X-Team": "sre"}})
	if h := s.must(t, 200, "GET", opPath+"/"+id+"/headers", nil); !strings.Contains(mustJSON(t, h), "X-Team") {
		t.Errorf("headers: %v", h)
	}
	before := str(s.must(t, 200, "GET", opPath+"/"+id+"/secret", nil), "key")
	s.must(t, 204, "POST", opPath+"/"+id+"/secret/rotate", map[string]any{})
	if after := str(s.must(t, 200, "GET", opPath+"/"+id+"/secret", nil), "key"); after == before || after == "" {
		t.Errorf("secret not rotated: %q -> %q", before, after)
	}
	s.must(t, 204, "DELETE", opPath+"/"+id, nil)
	if r := s.call(t, "GET", opPath+"/"+id, nil); r.Status != http.StatusNotFound {
		t.Errorf("deleted endpoint: %d", r.Status)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
