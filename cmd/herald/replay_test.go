package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/sqlite"
)

// taskPath is the API path of a background task.
func taskPath(id string) string { return "/api/v1/background-task/" + id }

// waitTask waits until the task is no longer running and returns it.
func (s *testServer) waitTask(t *testing.T, id string) map[string]any {
	t.Helper()
	var task map[string]any
	waitFor(t, 10*time.Second, "task "+id+" to end", func() bool {
		task = s.must(t, 200, "GET", taskPath(id), nil)
		return str(task, "status") != "running"
	})
	return task
}

// queued returns the task's data.deliveriesQueued.
func queued(task map[string]any) float64 {
	d, _ := task["data"].(map[string]any)
	n, _ := d["deliveriesQueued"].(float64)
	return n
}

// TestReplayMissing proves that messages sent while an endpoint is
// disabled are kept, and that replay-missing delivers exactly those the
// endpoint missed and that match its filters, as a background task that
// finishes with their count; on both stores.
func TestReplayMissing(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testReplayMissing(t) })
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		testReplayMissing(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+testSchema(t, url))
	})
}

func testReplayMissing(t *testing.T, env ...string) {
	s := startServer(t, env...)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "replay")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL, "eventTypes": []string{"invoice.paid"}})
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	epPath := "/api/v1/app/" + app + "/endpoint/" + ep

	before := s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": 0}})
	waitFor(t, 10*time.Second, "delivery before the disable", func() bool { return len(rc.byMsg(before)) == 1 })
	s.must(t, 200, "PATCH", epPath, map[string]any{"disabled": true})
	var missed []string
	for i := 1; i <= 3; i++ {
		missed = append(missed, s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": i}}))
	}
	other := s.send(t, app, map[string]any{"eventType": "user.created", "payload": map[string]any{"n": 9}})
	for _, id := range append(slices.Clone(missed), other) {
		if d := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+id+"/endpoint", nil)); len(d) != 0 {
			t.Fatalf("message %s sent while disabled has deliveries %v", id, d)
		}
	}
	r := s.call(t, "POST", epPath+"/replay-missing", map[string]any{"since": since})
	if r.Status != 409 || str(r.JSON(t), "code") != "conflict" {
		t.Errorf("replay-missing on a disabled endpoint: %d %s", r.Status, r.Body)
	}
	s.must(t, 200, "PATCH", epPath, map[string]any{"disabled": false})
	if r := s.call(t, "POST", epPath+"/replay-missing", map[string]any{}); r.Status != 422 {
		t.Errorf("replay-missing without since: %d %s", r.Status, r.Body)
	}

	started := s.must(t, 202, "POST", epPath+"/replay-missing", map[string]any{"since": since})
	if str(started, "task") != "endpoint.replay" || str(started, "status") != "running" {
		t.Errorf("replay-missing answered %v", started)
	}
	task := s.waitTask(t, str(started, "id"))
	if str(task, "status") != "finished" || queued(task) != 3 {
		t.Fatalf("replay task ended %v, want finished with 3 deliveries queued", task)
	}
	for _, id := range missed {
		waitFor(t, 10*time.Second, "replayed "+id, func() bool { return len(rc.byMsg(id)) == 1 })
		var atts []map[string]any
		waitFor(t, 10*time.Second, "the attempt of "+id+" recorded", func() bool {
			atts = items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+id, nil))
			return len(atts) > 0
		})
		if len(atts) != 1 || atts[0]["triggerType"] != 1.0 || atts[0]["status"] != 0.0 {
			t.Errorf("attempts of replayed %s: %v", id, atts)
		}
	}
	// The deliveries the task queued are the only ones: all have been made.
	waitFor(t, 10*time.Second, "the replayed deliveries to succeed", func() bool {
		d := items(t, s.must(t, 200, "GET", epPath+"/msg", nil))
		return len(d) == 4 && !slices.ContainsFunc(d, func(m map[string]any) bool { return m["status"] != 0.0 })
	})
	if n := len(rc.requests()); n != 4 || len(rc.byMsg(before)) != 1 || len(rc.byMsg(other)) != 0 {
		t.Errorf("receiver got %d requests (%d of the earlier message, %d of the other type), want 4, 1, 0",
			n, len(rc.byMsg(before)), len(rc.byMsg(other)))
	}

	list := items(t, s.must(t, 200, "GET", "/api/v1/background-task?task=endpoint.replay&status=finished", nil))
	if len(list) != 1 || str(list[0], "id") != str(started, "id") {
		t.Errorf("background task list %v", list)
	}
	if r := s.call(t, "GET", "/api/v1/background-task?status=done", nil); r.Status != 422 {
		t.Errorf("list with a bad status: %d %s", r.Status, r.Body)
	}

	// A token scoped to another application sees none of these tasks.
	otherApp := s.createApp(t, "other")
	tok := str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+otherApp, map[string]any{}), "token")
	if r := s.callAs(t, tok, "GET", taskPath(str(started, "id")), nil); r.Status != 404 {
		t.Errorf("another app's token reading the task: %d", r.Status)
	}
	if l := items(t, okJSON(t, s.callAs(t, tok, "GET", "/api/v1/background-task", nil))); len(l) != 0 {
		t.Errorf("another app's token lists %v", l)
	}
	own := str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+app, map[string]any{}), "token")
	if r := s.callAs(t, own, "POST", epPath+"/replay-missing", map[string]any{"since": since}); r.Status != 202 {
		t.Errorf("the app's own token replaying: %d %s", r.Status, r.Body)
	}
	if l := items(t, okJSON(t, s.callAs(t, own, "GET", "/api/v1/background-task", nil))); len(l) != 2 {
		t.Errorf("the app's token lists %d tasks, want 2", len(l))
	}
}

// okJSON decodes a 200 answer.
func okJSON(t *testing.T, r apiResponse) map[string]any {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// TestBulkReplayByStatus proves bulk-replay re-sends the deliveries in the
// status asked for (successes too) and leaves the others alone.
func TestBulkReplayByStatus(t *testing.T) {
	s := startServer(t)
	var mu sync.Mutex
	failing := map[string]bool{}
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if failing[r.Header.Get("webhook-id")] {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	})
	app := s.createApp(t, "bulk")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	epPath := "/api/v1/app/" + app + "/endpoint/" + ep
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	mu.Lock()
	ok := s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": 1}})
	mu.Unlock()
	// The failing message is marked before its first attempt can start.
	mu.Lock()
	bad := s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": 2}})
	failing[bad] = true
	mu.Unlock()
	status := func(id string) any {
		d := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+id+"/endpoint", nil))
		if len(d) != 1 {
			return nil
		}
		return d[0]["status"]
	}
	waitFor(t, 10*time.Second, "one success and one failure", func() bool { return status(ok) == 0.0 && status(bad) == 2.0 })
	badAttempts := len(rc.byMsg(bad))

	if r := s.call(t, "POST", epPath+"/bulk-replay", map[string]any{"since": since, "status": 1}); r.Status != 422 {
		t.Errorf("bulk-replay of pending: %d %s", r.Status, r.Body)
	}
	started := s.must(t, 202, "POST", epPath+"/bulk-replay", map[string]any{"since": since, "status": 0})
	if str(started, "task") != "endpoint.bulk_replay" {
		t.Errorf("bulk-replay answered %v", started)
	}
	if task := s.waitTask(t, str(started, "id")); str(task, "status") != "finished" || queued(task) != 1 {
		t.Fatalf("bulk replay of successes ended %v, want 1 queued", task)
	}
	waitFor(t, 10*time.Second, "the success sent again", func() bool { return len(rc.byMsg(ok)) == 2 })
	waitFor(t, 10*time.Second, "the replayed success recorded", func() bool { return status(ok) == 0.0 })
	if n := len(rc.byMsg(bad)); n != badAttempts {
		t.Errorf("the failed message got %d attempts after a replay of successes, had %d", n, badAttempts)
	}

	mu.Lock()
	failing[bad] = false
	mu.Unlock()
	started = s.must(t, 202, "POST", epPath+"/bulk-replay", map[string]any{"since": since, "status": 2, "eventTypes": []string{"user.created"}})
	if task := s.waitTask(t, str(started, "id")); queued(task) != 0 {
		t.Errorf("bulk replay of another event type queued %v", task)
	}
	started = s.must(t, 202, "POST", epPath+"/bulk-replay", map[string]any{"since": since, "status": 2, "eventTypes": []string{"invoice.paid"}})
	if task := s.waitTask(t, str(started, "id")); queued(task) != 1 {
		t.Errorf("bulk replay of failures queued %v, want 1", task)
	}
	waitFor(t, 10*time.Second, "the failed message delivered", func() bool { return status(bad) == 0.0 })
	if n := len(rc.byMsg(ok)); n != 2 {
		t.Errorf("the successful message got %d requests, want 2", n)
	}
	if l := items(t, s.must(t, 200, "GET", "/api/v1/background-task?task=endpoint.bulk_replay&limit=2", nil)); len(l) != 2 {
		t.Errorf("first page of bulk replays: %v", l)
	}
}

// TestTaskResumesAfterRestart proves that a background task left running
// by a process that stopped mid-way (here: after its first batch) is
// resumed from its recorded progress at the next start, not restarted.
func TestTaskResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServerIn(t, dir)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "resume")
	ep, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL, "disabled": true})
	var msgs []string
	for i := 0; i < 3; i++ {
		msgs = append(msgs, s.send(t, app, map[string]any{"eventType": "invoice.paid", "payload": map[string]any{"n": i}}))
	}
	s.must(t, 200, "PATCH", "/api/v1/app/"+app+"/endpoint/"+ep, map[string]any{"disabled": false})
	s.Stop(t)

	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	task := &herald.Task{ID: herald.NewID(herald.PrefixTask, now), AppID: app, Kind: herald.TaskEndpointReplay,
		Status: herald.TaskRunning, Params: herald.TaskParams{EndpointID: ep, Since: now.Add(-time.Hour)},
		Cursor: msgs[0], Scanned: 1, Queued: 1, CreatedAt: now, UpdatedAt: now}
	if err := st.TaskCreate(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	s = startServerIn(t, dir)
	got := s.waitTask(t, task.ID)
	d, _ := got["data"].(map[string]any)
	if str(got, "status") != "finished" || d["messagesExamined"] != 3.0 || d["deliveriesQueued"] != 3.0 {
		t.Fatalf("resumed task ended %v, want finished with 3 examined and 3 queued in all", got)
	}
	for _, id := range msgs[1:] {
		waitFor(t, 10*time.Second, "resumed delivery of "+id, func() bool { return len(rc.byMsg(id)) == 1 })
	}
	if n := len(rc.byMsg(msgs[0])); n != 0 {
		t.Errorf("the message before the task's cursor was sent %d times, want 0", n)
	}
}
