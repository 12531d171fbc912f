package storetest

import (
	"slices"
	"testing"

	"github.com/herald-webhooks/herald"
)

var replayTests = []test{
	{"TaskGetList", testTaskGetList},
	{"TaskStepReplayMissing", testTaskStepReplayMissing},
	{"TaskStepBulkReplay", testTaskStepBulkReplay},
	{"TaskStepFails", testTaskStepFails},
	{"TaskStepKeepsDeliverAt", testTaskStepKeepsDeliverAt},
}

// task stores a running task of kind on ep with params p.
func (f *fixture) task(appID, kind string, p herald.TaskParams) *herald.Task {
	f.t.Helper()
	now := f.tick()
	t := &herald.Task{ID: herald.NewID(herald.PrefixTask, now), AppID: appID, Kind: kind, Status: herald.TaskRunning,
		Params: p, CreatedAt: now, UpdatedAt: now}
	must(f.t, f.s.TaskCreate(f.ctx, t), "TaskCreate")
	return t
}

// stepAll steps the task with limit until it stops running and returns
// the queued count of each step.
func (f *fixture) stepAll(id string, limit int) (*herald.Task, []int) {
	f.t.Helper()
	var counts []int
	prev := 0
	for i := 0; i < 100; i++ {
		got, err := f.s.TaskStep(f.ctx, id, limit, f.tick())
		must(f.t, err, "TaskStep")
		counts = append(counts, got.Queued-prev)
		prev = got.Queued
		if got.Status != herald.TaskRunning {
			return got, counts
		}
	}
	f.t.Fatalf("task %s still running after 100 steps", id)
	return nil, nil
}

// pendingMsgs returns the IDs of the messages with a pending delivery to
// the endpoint.
func (f *fixture) pendingMsgs(appID, endpointID string) []string {
	f.t.Helper()
	st := herald.StatusPending
	page, err := f.s.EndpointMessageList(f.ctx, appID, endpointID, herald.MessageFilter{}, &st, herald.ListParams{Limit: 250})
	must(f.t, err, "EndpointMessageList")
	var ids []string
	for _, m := range page.Items {
		ids = append(ids, m.Message.ID)
	}
	slices.Sort(ids)
	return ids
}

func testTaskGetList(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	fail := herald.StatusFail
	p := herald.TaskParams{EndpointID: "ep_x", Since: at(1000), Until: at(2000), Status: &fail,
		EventTypes: []string{"invoice.paid", "user.created"}, Channel: "eu"}
	t1 := f.task(a.ID, herald.TaskEndpointBulkReplay, p)
	t2 := f.task(a.ID, herald.TaskEndpointReplay, herald.TaskParams{EndpointID: "ep_x", Since: at(5)})
	t3 := f.task(b.ID, herald.TaskEndpointRecover, herald.TaskParams{EndpointID: "ep_y", Since: at(5)})
	t4 := &herald.Task{ID: herald.NewID(herald.PrefixTask, f.tick()), AppID: b.ID, Kind: herald.TaskEndpointRecover,
		Status: herald.TaskFailed, Cursor: "msg_c", Scanned: 7, Queued: 3, Skipped: 2, Error: "endpoint not found", CreatedAt: f.tick(), UpdatedAt: f.tick()}
	must(t, f.s.TaskCreate(f.ctx, t4), "TaskCreate failed task")
	wantCode(t, f.s.TaskCreate(f.ctx, t4), herald.EConflict, "TaskCreate taken ID")
	for _, want := range []*herald.Task{t1, t2, t3, t4} {
		got, err := f.s.TaskGet(f.ctx, want.ID)
		must(t, err, "TaskGet")
		checkFields(t, "task "+want.ID, field{"AppID", got.AppID, want.AppID}, field{"Kind", got.Kind, want.Kind},
			field{"Status", got.Status, want.Status}, field{"Params", got.Params, want.Params},
			field{"Cursor", got.Cursor, want.Cursor}, field{"Scanned", got.Scanned, want.Scanned},
			field{"Queued", got.Queued, want.Queued}, field{"Skipped", got.Skipped, want.Skipped},
			field{"Error", got.Error, want.Error},
			field{"CreatedAt", got.CreatedAt, want.CreatedAt}, field{"UpdatedAt", got.UpdatedAt, want.UpdatedAt})
	}
	_, err := f.s.TaskGet(f.ctx, "qtask_missing")
	wantCode(t, err, herald.ENotFound, "TaskGet unknown")

	list := func(fl herald.TaskFilter, p herald.ListParams) ([]string, herald.Page[herald.Task]) {
		t.Helper()
		page, err := f.s.TaskList(f.ctx, fl, p)
		must(t, err, "TaskList")
		var out []string
		for _, tk := range page.Items {
			out = append(out, tk.ID)
		}
		return out, page
	}
	for _, c := range []struct {
		what string
		f    herald.TaskFilter
		want []string
	}{
		{"all", herald.TaskFilter{}, []string{t4.ID, t3.ID, t2.ID, t1.ID}},
		{"app", herald.TaskFilter{AppID: a.ID}, []string{t2.ID, t1.ID}},
		{"status", herald.TaskFilter{Status: herald.TaskRunning}, []string{t3.ID, t2.ID, t1.ID}},
		{"kind", herald.TaskFilter{Kind: herald.TaskEndpointRecover}, []string{t4.ID, t3.ID}},
		{"all three", herald.TaskFilter{AppID: b.ID, Status: herald.TaskFailed, Kind: herald.TaskEndpointRecover}, []string{t4.ID}},
	} {
		if got, _ := list(c.f, herald.ListParams{Limit: 10}); !slices.Equal(got, c.want) {
			t.Errorf("TaskList %s: %v, want %v", c.what, got, c.want)
		}
	}
	got, page := list(herald.TaskFilter{}, herald.ListParams{Limit: 3})
	if !slices.Equal(got, []string{t4.ID, t3.ID, t2.ID}) || page.Done {
		t.Errorf("first page %v done=%v", got, page.Done)
	}
	got, page = list(herald.TaskFilter{}, herald.ListParams{Limit: 3, Iterator: page.Iterator})
	if !slices.Equal(got, []string{t1.ID}) || !page.Done {
		t.Errorf("second page %v done=%v", got, page.Done)
	}
}

func testTaskStepReplayMissing(t *testing.T, f *fixture) {
	a := f.app()
	ep := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"invoice.paid", "invoice.void"} })
	other := f.endpoint(a.ID)
	delivered, _ := f.message(a.ID)
	f.complete(func(string) herald.MessageStatus { return herald.StatusSuccess })
	ep.Disabled = true
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate disable")
	since := f.tick()
	var missed []string
	for i := 0; i < 5; i++ {
		m, ds := f.message(a.ID, func(m *herald.Message) {
			if i == 3 {
				m.EventType = "invoice.void"
			}
		})
		if len(ds) != 1 || ds[0].EndpointID != other.ID {
			t.Fatalf("fan-out while disabled: %+v", ds)
		}
		missed = append(missed, m.ID)
	}
	f.message(a.ID, func(m *herald.Message) { m.EventType = "user.created" })
	until := f.tick()
	f.message(a.ID) // after until
	ep.Disabled = false
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate enable")

	task := f.task(a.ID, herald.TaskEndpointReplay, herald.TaskParams{EndpointID: ep.ID, Since: since, Until: until})
	first, err := f.s.TaskStep(f.ctx, task.ID, 2, f.tick())
	must(t, err, "TaskStep first")
	if first.Status != herald.TaskRunning || first.Scanned != 2 || first.Queued != 2 || first.Cursor != missed[1] {
		t.Errorf("after one step: %+v", first)
	}
	stored, err := f.s.TaskGet(f.ctx, task.ID)
	must(t, err, "TaskGet")
	if stored.Cursor != missed[1] || stored.Scanned != 2 || stored.Queued != 2 {
		t.Errorf("stored progress after one step: %+v", stored)
	}
	done, counts := f.stepAll(task.ID, 2)
	if done.Status != herald.TaskFinished || done.Scanned != 6 || done.Queued != 5 || done.Error != "" {
		t.Errorf("finished task: %+v (steps queued %v)", done, counts)
	}
	slices.Sort(missed)
	if got := f.pendingMsgs(a.ID, ep.ID); !slices.Equal(got, missed) {
		t.Errorf("pending after replay: %v, want the missed %v (not %s)", got, missed, delivered.ID)
	}
	for _, j := range f.claimAll(f.tick()) {
		if j.Delivery.EndpointID == ep.ID && (j.Delivery.Trigger != herald.TriggerManual || j.Delivery.Attempts != 0) {
			t.Errorf("replayed delivery %+v, want manual with a fresh schedule", j.Delivery)
		}
	}
	again, err := f.s.TaskStep(f.ctx, task.ID, 2, f.tick())
	must(t, err, "TaskStep finished")
	if again.Status != herald.TaskFinished || again.Queued != 5 || !again.UpdatedAt.Equal(done.UpdatedAt) {
		t.Errorf("stepping a finished task changed it: %+v", again)
	}
	second := f.task(a.ID, herald.TaskEndpointReplay, herald.TaskParams{EndpointID: ep.ID, Since: since})
	if got, _ := f.stepAll(second.ID, 100); got.Queued != 1 || got.Scanned != 7 {
		t.Errorf("a second replay with no end: %+v, want only the message sent after until queued", got)
	}
	_, err = f.s.TaskStep(f.ctx, "qtask_missing", 2, f.tick())
	wantCode(t, err, herald.ENotFound, "TaskStep unknown")
}

// complete claims every due delivery and completes each with the status
// status(msgID) gives.
func (f *fixture) complete(status func(msgID string) herald.MessageStatus) {
	f.t.Helper()
	now := f.tick()
	var results []herald.DeliveryResult
	for _, j := range f.claimAll(now) {
		st := status(j.Delivery.MsgID)
		code := 200
		if st != herald.StatusSuccess {
			code = 500
		}
		results = append(results, result(j, st, code, now))
	}
	must(f.t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
}

func testTaskStepBulkReplay(t *testing.T, f *fixture) {
	a := f.app()
	ep := f.endpoint(a.ID)
	since := f.tick()
	ok, _ := f.message(a.ID)
	f1, _ := f.message(a.ID)
	f2, _ := f.message(a.ID, func(m *herald.Message) { m.EventType = "user.created" })
	f3, _ := f.message(a.ID, func(m *herald.Message) { m.Channels = []string{"eu"} })
	f.complete(func(id string) herald.MessageStatus {
		if id == ok.ID {
			return herald.StatusSuccess
		}
		return herald.StatusFail
	})

	fail, success := herald.StatusFail, herald.StatusSuccess
	run := func(kind string, p herald.TaskParams) *herald.Task {
		t.Helper()
		p.EndpointID, p.Since = ep.ID, since
		got, _ := f.stepAll(f.task(a.ID, kind, p).ID, 2)
		return got
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	if got := run(herald.TaskEndpointBulkReplay, herald.TaskParams{Status: &fail, EventTypes: []string{"invoice.paid"}}); got.Queued != 2 || got.Scanned != 4 {
		t.Errorf("bulk replay of failed invoice.paid: %+v", got)
	}
	if got, want := f.pendingMsgs(a.ID, ep.ID), sorted(f1.ID, f3.ID); !slices.Equal(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	if got := run(herald.TaskEndpointBulkReplay, herald.TaskParams{Channel: "eu"}); got.Queued != 0 {
		t.Errorf("bulk replay of pending deliveries queued %d, want 0", got.Queued)
	}
	if got := run(herald.TaskEndpointRecover, herald.TaskParams{}); got.Queued != 1 {
		t.Errorf("recover queued %d, want 1 (%s)", got.Queued, f2.ID)
	}
	if got := run(herald.TaskEndpointBulkReplay, herald.TaskParams{Status: &success}); got.Queued != 1 {
		t.Errorf("bulk replay of successes queued %d, want 1", got.Queued)
	}
	if got, want := f.pendingMsgs(a.ID, ep.ID), sorted(ok.ID, f1.ID, f2.ID, f3.ID); !slices.Equal(got, want) {
		t.Errorf("pending %v, want %v", got, want)
	}
	f.complete(func(string) herald.MessageStatus { return herald.StatusSuccess })
	if got := run(herald.TaskEndpointBulkReplay, herald.TaskParams{Until: f3.CreatedAt, Status: &success}); got.Queued != 3 || got.Scanned != 3 {
		t.Errorf("bulk replay of successes before the last message: %+v", got)
	}
}

func testTaskStepFails(t *testing.T, f *fixture) {
	a := f.app()
	ep := f.endpoint(a.ID)
	f.message(a.ID)
	gone := f.task(a.ID, herald.TaskEndpointReplay, herald.TaskParams{EndpointID: "ep_gone"})
	got, err := f.s.TaskStep(f.ctx, gone.ID, 10, f.tick())
	must(t, err, "TaskStep")
	if got.Status != herald.TaskFailed || got.Error == "" {
		t.Errorf("task of a missing endpoint: %+v", got)
	}
	odd := f.task(a.ID, "application.stats", herald.TaskParams{EndpointID: ep.ID})
	got, err = f.s.TaskStep(f.ctx, odd.ID, 10, f.tick())
	must(t, err, "TaskStep")
	if got.Status != herald.TaskFailed || got.Error == "" {
		t.Errorf("task of an unknown kind: %+v", got)
	}
	if stored, err := f.s.TaskGet(f.ctx, odd.ID); err != nil || stored.Status != herald.TaskFailed {
		t.Errorf("stored unknown-kind task %+v, %v", stored, err)
	}
}

// testTaskStepKeepsDeliverAt checks that a replay does not send a
// scheduled message before its deliverAt.
func testTaskStepKeepsDeliverAt(t *testing.T, f *fixture) {
	a := f.app()
	ep := f.endpoint(a.ID)
	ep.Disabled = true
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate disable")
	since := f.tick()
	later := at(50_000_000)
	scheduled, _ := f.message(a.ID, func(m *herald.Message) { m.DeliverAt = &later })
	plain, _ := f.message(a.ID)
	ep.Disabled = false
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate enable")
	task := f.task(a.ID, herald.TaskEndpointReplay, herald.TaskParams{EndpointID: ep.ID, Since: since})
	got, _ := f.stepAll(task.ID, 10)
	if got.Queued != 2 {
		t.Fatalf("replay queued %d, want 2", got.Queued)
	}
	now := f.tick()
	jobs := f.claimAll(now)
	if len(jobs) != 1 || jobs[0].Message.ID != plain.ID {
		t.Fatalf("due at once: %v, want only the unscheduled message %s", jobIDs(jobs), plain.ID)
	}
	if jobs := f.claimAll(later); len(jobs) != 1 || jobs[0].Message.ID != scheduled.ID {
		t.Fatalf("due at its deliverAt: %v, want the scheduled message %s", jobIDs(jobs), scheduled.ID)
	}
}
