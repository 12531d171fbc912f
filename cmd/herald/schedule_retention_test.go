package main

import (
	"strings"
	"testing"
	"time"
)

// TestDeliverAt: a scheduled message reaches its receiver no earlier than
// its deliverAt, on the embedded store (with its claim-on-create hand-off
// active) and on PostgreSQL.
func TestDeliverAt(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { checkDeliverAt(t, startServer(t)) })
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		checkDeliverAt(t, startServer(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+testSchema(t, url)))
	})
}

func checkDeliverAt(t *testing.T, s *testServer) {
	rc := newReceiver(t, nil)
	app := s.createApp(t, "scheduled")
	s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	// A first delivery, so that the engine is claiming (and the embedded
	// store hands fresh deliveries over on create).
	first := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 0}})
	waitFor(t, 15*time.Second, "first delivery", func() bool { return len(rc.byMsg(first)) == 1 })

	deliverAt := time.Now().Add(1500 * time.Millisecond).UTC()
	scheduled := s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{
		"eventType": "a.b", "payload": map[string]any{"n": 1}, "deliverAt": deliverAt.Format(time.RFC3339Nano)})
	id := str(scheduled, "id")
	now := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 2}})
	past := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 3},
		"deliverAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	waitFor(t, 15*time.Second, "the unscheduled deliveries", func() bool {
		return len(rc.byMsg(now)) == 1 && len(rc.byMsg(past)) == 1
	})
	waitFor(t, 15*time.Second, "the scheduled delivery", func() bool { return len(rc.byMsg(id)) == 1 })
	if got := rc.byMsg(id)[0].At; got.Before(deliverAt) {
		t.Fatalf("scheduled message received at %v, before its deliverAt %v", got, deliverAt)
	}
	got := s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+id, nil)
	at, err := time.Parse(time.RFC3339Nano, str(got, "deliverAt"))
	if err != nil || at.Before(deliverAt) || at.Sub(deliverAt) > time.Microsecond {
		t.Fatalf("message shows deliverAt %q, want %v", str(got, "deliverAt"), deliverAt)
	}
	if _, ok := s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+now, nil)["deliverAt"]; ok {
		t.Fatal("a message without deliverAt shows one")
	}
}

// TestDeliverAtValidation: deliverAt must be an RFC 3339 time at most 90
// days ahead; the error names the field.
func TestDeliverAtValidation(t *testing.T) {
	s := startServer(t)
	app := s.createApp(t, "scheduled")
	for _, v := range []any{"tomorrow", time.Now().Add(91 * 24 * time.Hour).UTC().Format(time.RFC3339), 12} {
		r := s.call(t, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{}, "deliverAt": v})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"deliverAt"`) {
			t.Errorf("deliverAt %v: status %d %s, want 422 naming deliverAt", v, r.Status, r.Body)
		}
	}
	s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{},
		"deliverAt": time.Now().Add(89 * 24 * time.Hour).UTC().Format(time.RFC3339)})
}

// TestRetention: with short retention settings, the cleaner expunges a
// message's payload once its payloadRetentionPeriod has passed (the
// message and its attempts stay; a message with a longer period keeps
// its payload), then empties the attempt's response body, then deletes
// the attempt, on the embedded store and on PostgreSQL.
func TestRetention(t *testing.T) {
	env := []string{"HERALD_PAYLOAD_RETENTION_DAY=200ms", "HERALD_RETENTION_INTERVAL=100ms",
		"HERALD_ATTEMPT_RESPONSE_RETENTION=2s", "HERALD_ATTEMPT_RETENTION=4s"}
	t.Run("embedded", func(t *testing.T) { checkRetention(t, startServer(t, env...)) })
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		checkRetention(t, startServer(t, append(env, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+testSchema(t, url))...))
	})
}

func checkRetention(t *testing.T, s *testServer) {
	rc := newReceiver(t, nil)
	app := s.createApp(t, "retention")
	s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	// payloadRetentionPeriod 5 is 1s here, 90 is 18s.
	short := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"secret": "s1"}, "payloadRetentionPeriod": 5})
	long := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"secret": "s2"}, "payloadRetentionPeriod": 90})
	waitFor(t, 15*time.Second, "deliveries", func() bool { return len(rc.byMsg(short)) == 1 && len(rc.byMsg(long)) == 1 })
	if body := string(rc.byMsg(short)[0].Body); !strings.Contains(body, "s1") {
		t.Fatalf("delivered %s, want the payload", body)
	}
	msgPath := "/api/v1/app/" + app + "/msg/"
	attempts := func(msgID string) []map[string]any {
		return items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID, nil))
	}
	waitFor(t, 15*time.Second, "the short payload expunged", func() bool {
		r := s.call(t, "GET", msgPath+short, nil)
		return r.Status == 200 && !strings.Contains(string(r.Body), "s1")
	})
	got := s.must(t, 200, "GET", msgPath+short, nil)
	if str(got, "eventType") != "a.b" || len(got["payload"].(map[string]any)) != 0 {
		t.Fatalf("expunged message shows %v, want its record with payload {}", got)
	}
	if kept := s.must(t, 200, "GET", msgPath+long, nil); kept["payload"].(map[string]any)["secret"] != "s2" {
		t.Fatalf("message with a 90-day period shows %v, want its payload", kept)
	}
	if a := attempts(short); len(a) != 1 || str(a[0], "response") != "ok" {
		t.Fatalf("attempts of the expunged message: %v, want its attempt with its response", a)
	}
	waitFor(t, 15*time.Second, "the response body emptied", func() bool {
		a := attempts(short)
		return len(a) == 1 && str(a[0], "response") == ""
	})
	waitFor(t, 15*time.Second, "the attempt deleted", func() bool { return len(attempts(short)) == 0 })
	s.must(t, 200, "GET", msgPath+short, nil)
}
