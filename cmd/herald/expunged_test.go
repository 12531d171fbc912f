package main

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// onBothStores runs test on the embedded store and on PostgreSQL.
func onBothStores(t *testing.T, test func(t *testing.T, env ...string)) {
	t.Run("embedded", func(t *testing.T) { test(t) })
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		test(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+testSchema(t, url))
	})
}

// deliveryStatus returns the status of the message's delivery to the
// endpoint, nil if it has none.
func (s *testServer) deliveryStatus(t *testing.T, app, msg, ep string) any {
	t.Helper()
	for _, d := range items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+msg+"/endpoint", nil)) {
		if str(d, "id") == ep {
			return d["status"]
		}
	}
	return nil
}

// taskData returns a background task's data.
func taskData(task map[string]any) map[string]any {
	d, _ := task["data"].(map[string]any)
	return d
}

// noEmptyBodies fails t if any receiver got a request whose body is {}.
func noEmptyBodies(t *testing.T, rcs ...*receiver) {
	t.Helper()
	for _, rc := range rcs {
		for _, g := range rc.requests() {
			if string(bytes.TrimSpace(g.Body)) == "{}" {
				t.Errorf("receiver %s got %s with the body {}", rc.URL, g.Header.Get("webhook-id"))
			}
		}
	}
}

// TestExpungedMessagesAreNotSent expunges one of three messages and
// proves that resend refuses it (409) and that recover, replay-missing and
// bulk-replay send exactly the other two, counting it as skipped: the
// receivers get the two others and never the expunged one nor a {} body.
func TestExpungedMessagesAreNotSent(t *testing.T) { onBothStores(t, testExpungedNotSent) }

func testExpungedNotSent(t *testing.T, env ...string) {
	s := startServer(t, env...)
	var mu sync.Mutex
	failB := true
	rcA := newReceiver(t, nil)
	rcB := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if failB {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	})
	app := s.createApp(t, "expunged")
	epA, _ := s.createEndpoint(t, app, map[string]any{"url": rcA.URL, "disabled": true})
	epB, _ := s.createEndpoint(t, app, map[string]any{"url": rcB.URL})
	pathA, pathB := "/api/v1/app/"+app+"/endpoint/"+epA, "/api/v1/app/"+app+"/endpoint/"+epB
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	var msgs []string
	for i := 0; i < 3; i++ {
		msgs = append(msgs, s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": i}}))
	}
	kept, gone := []string{msgs[0], msgs[2]}, msgs[1]
	waitFor(t, 15*time.Second, "every delivery to B to fail", func() bool {
		for _, m := range msgs {
			if s.deliveryStatus(t, app, m, epB) != 2.0 {
				return false
			}
		}
		return true
	})
	goneAttempts := len(rcB.byMsg(gone))

	msgPath := "/api/v1/app/" + app + "/msg/" + gone
	s.must(t, 204, "DELETE", msgPath+"/content", nil)
	got := s.must(t, 200, "GET", msgPath, nil)
	if p, ok := got["payload"].(map[string]any); !ok || len(p) != 0 {
		t.Errorf("GET of the expunged message: payload %v, want {}", got["payload"])
	}
	for _, ep := range []string{epB, epA} {
		r := s.call(t, "POST", msgPath+"/endpoint/"+ep+"/resend", nil)
		if body := r.JSON(t); r.Status != 409 || str(body, "code") != "conflict" || !strings.Contains(str(body, "detail"), "expunged") {
			t.Errorf("resend of the expunged message to %s: %d %s, want 409 conflict saying why", ep, r.Status, r.Body)
		}
	}

	mu.Lock()
	failB = false
	mu.Unlock()
	wantTask := func(what string, started map[string]any, queued, skipped float64) {
		t.Helper()
		task := s.waitTask(t, str(started, "id"))
		d := taskData(task)
		if str(task, "status") != "finished" || d["deliveriesQueued"] != queued || d["messagesSkipped"] != skipped {
			t.Errorf("%s ended %v, want finished with %v queued and %v skipped", what, task, queued, skipped)
		}
		if reason := str(d, "skippedReason"); (skipped > 0) != (reason == "payload expunged") {
			t.Errorf("%s: skippedReason %q with %v skipped", what, reason, skipped)
		}
	}
	sentTo := func(rc *receiver, n int) func() bool {
		return func() bool { return len(rc.byMsg(kept[0])) == n && len(rc.byMsg(kept[1])) == n }
	}
	before := len(rcB.byMsg(kept[0]))
	wantTask("recover", s.must(t, 202, "POST", pathB+"/recover", map[string]any{"since": since}), 2, 1)
	waitFor(t, 10*time.Second, "the two kept messages recovered", sentTo(rcB, before+1))

	s.must(t, 200, "PATCH", pathA, map[string]any{"disabled": false})
	wantTask("replay-missing", s.must(t, 202, "POST", pathA+"/replay-missing", map[string]any{"since": since}), 2, 1)
	waitFor(t, 10*time.Second, "the two kept messages replayed to A", sentTo(rcA, 1))

	waitFor(t, 10*time.Second, "the recovered deliveries to succeed", func() bool {
		return s.deliveryStatus(t, app, kept[0], epB) == 0.0 && s.deliveryStatus(t, app, kept[1], epB) == 0.0
	})
	wantTask("bulk-replay", s.must(t, 202, "POST", pathB+"/bulk-replay", map[string]any{"since": since}), 2, 1)
	waitFor(t, 10*time.Second, "the two kept messages replayed to B", sentTo(rcB, before+2))
	s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg/"+kept[0]+"/endpoint/"+epB+"/resend", nil)
	waitFor(t, 10*time.Second, "a kept message resent", func() bool { return len(rcB.byMsg(kept[0])) == before+3 })

	if n, m := len(rcB.byMsg(gone)), len(rcA.byMsg(gone)); n != goneAttempts || m != 0 {
		t.Errorf("the expunged message was sent after its expunge: %d requests to B (had %d), %d to A", n, goneAttempts, m)
	}
	if n := len(rcA.requests()); n != 2 {
		t.Errorf("A got %d requests, want the two kept messages", n)
	}
	if st := s.deliveryStatus(t, app, gone, epB); st != 2.0 {
		t.Errorf("the expunged message's delivery to B: %v, want failed", st)
	}
	if st := s.deliveryStatus(t, app, gone, epA); st != nil {
		t.Errorf("the expunged message has a delivery to A: %v", st)
	}
	noEmptyBodies(t, rcA, rcB)
}

// TestExpungeEndsDeliveries proves what becomes of the deliveries of a
// message expunged while they wait: a pending one (here scheduled for
// later) ends failed at once without an attempt; one whose attempt is
// under way finishes it with the payload it read and, if that attempt
// asks for a retry, is never tried again: it ends failed with an attempt
// that says why and sends nothing.
func TestExpungeEndsDeliveries(t *testing.T) { onBothStores(t, testExpungeEndsDeliveries) }

func testExpungeEndsDeliveries(t *testing.T, env ...string) {
	s := startServer(t, env...)
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			<-release // the first attempt waits for the expunge, then fails
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	app := s.createApp(t, "expunge-pending")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL})

	inFlight := s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": 1}})
	waitFor(t, 10*time.Second, "the first attempt to reach the receiver", func() bool { return len(rc.byMsg(inFlight)) == 1 })
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	scheduled := s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": 2}, "deliverAt": later})
	if st := s.deliveryStatus(t, app, scheduled, ep); st != 1.0 {
		t.Fatalf("scheduled delivery: status %v, want pending", st)
	}

	s.must(t, 204, "DELETE", "/api/v1/app/"+app+"/msg/"+scheduled+"/content", nil)
	if st := s.deliveryStatus(t, app, scheduled, ep); st != 2.0 {
		t.Errorf("pending delivery of an expunged message: status %v, want failed at once", st)
	}
	if a := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+scheduled, nil)); len(a) != 0 {
		t.Errorf("ending the pending delivery recorded attempts %v", a)
	}

	s.must(t, 204, "DELETE", "/api/v1/app/"+app+"/msg/"+inFlight+"/content", nil)
	close(release)
	var atts []map[string]any
	waitFor(t, 10*time.Second, "the in-flight delivery to end", func() bool {
		atts = items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+inFlight, nil))
		return len(atts) == 2 && s.deliveryStatus(t, app, inFlight, ep) == 2.0
	})
	last := atts[0] // newest first
	if last["responseStatusCode"] != 0.0 || !strings.Contains(str(last, "response"), "payload was expunged") || last["status"] != 2.0 {
		t.Errorf("the attempt after the expunge: %v, want one that says nothing was sent", last)
	}
	if atts[1]["responseStatusCode"] != 500.0 {
		t.Errorf("the attempt under way at the expunge: %v, want the receiver's 500", atts[1])
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("the receiver got %d requests, want only the attempt under way at the expunge", n)
	}
	if b := rc.byMsg(inFlight); len(b) == 1 && !strings.Contains(string(b[0].Body), `"n":1`) {
		t.Errorf("the attempt under way sent %s, want the payload it read", b[0].Body)
	}
	noEmptyBodies(t, rc)
}

// TestTaskCleanupByAge proves that the retention cleaner deletes
// background tasks once they ended and HERALD_TASK_RETENTION passed.
func TestTaskCleanupByAge(t *testing.T) { onBothStores(t, testTaskCleanupByAge) }

func testTaskCleanupByAge(t *testing.T, env ...string) {
	s := startServer(t, append([]string{"HERALD_TASK_RETENTION=3s", "HERALD_RETENTION_INTERVAL=100ms"}, env...)...)
	app := s.createApp(t, "task-cleanup")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": "http://127.0.0.1:1/hook"})
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	started := s.must(t, 202, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/recover", map[string]any{"since": since})
	id := str(started, "id")
	task := s.waitTask(t, id)
	updated, err := time.Parse(time.RFC3339Nano, str(task, "updatedAt"))
	if str(task, "status") != "finished" || err != nil {
		t.Fatalf("task ended %v (updatedAt: %v)", task, err)
	}
	waitFor(t, 20*time.Second, "the ended task to be deleted", func() bool {
		return s.call(t, "GET", taskPath(id), nil).Status == 404
	})
	if d := time.Since(updated); d < 3*time.Second {
		t.Errorf("the task was deleted %v after it ended, before its retention of 3s", d)
	}
	if l := items(t, s.must(t, 200, "GET", "/api/v1/background-task", nil)); len(l) != 0 {
		t.Errorf("tasks listed after the cleanup: %v", l)
	}
}
