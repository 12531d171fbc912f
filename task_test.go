package herald

import (
	"testing"
	"time"
)

// TestTaskQueuesSkips checks which messages a task queues and which it
// skips because their payload was expunged, and that Advance counts both.
func TestTaskQueuesSkips(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in, before := since.Add(time.Minute), since.Add(-time.Minute)
	ep := &Endpoint{ID: "ep_1", EventTypes: []string{"invoice.paid"}}
	fail := StatusFail
	for _, tc := range []struct {
		what         string
		kind         string
		params       TaskParams
		cand         TaskCandidate
		queues, skip bool
	}{
		{"replay: missing", TaskEndpointReplay, TaskParams{}, TaskCandidate{EventType: "invoice.paid", CreatedAt: in}, true, false},
		{"replay: missing, expunged", TaskEndpointReplay, TaskParams{},
			TaskCandidate{EventType: "invoice.paid", CreatedAt: in, Expunged: true}, false, true},
		{"replay: expunged, other type", TaskEndpointReplay, TaskParams{},
			TaskCandidate{EventType: "user.created", CreatedAt: in, Expunged: true}, false, false},
		{"replay: expunged, has a delivery", TaskEndpointReplay, TaskParams{},
			TaskCandidate{EventType: "invoice.paid", CreatedAt: in, Expunged: true, HasDelivery: true}, false, false},
		{"replay: expunged, before since", TaskEndpointReplay, TaskParams{},
			TaskCandidate{EventType: "invoice.paid", CreatedAt: before, Expunged: true}, false, false},
		{"recover: failed", TaskEndpointRecover, TaskParams{},
			TaskCandidate{CreatedAt: in, HasDelivery: true, Status: StatusFail}, true, false},
		{"recover: failed, expunged", TaskEndpointRecover, TaskParams{},
			TaskCandidate{CreatedAt: in, HasDelivery: true, Status: StatusFail, Expunged: true}, false, true},
		{"recover: succeeded, expunged", TaskEndpointRecover, TaskParams{},
			TaskCandidate{CreatedAt: in, HasDelivery: true, Status: StatusSuccess, Expunged: true}, false, false},
		{"bulk: failed, expunged", TaskEndpointBulkReplay, TaskParams{Status: &fail},
			TaskCandidate{CreatedAt: in, HasDelivery: true, Status: StatusFail, Expunged: true}, false, true},
		{"bulk: pending, expunged", TaskEndpointBulkReplay, TaskParams{},
			TaskCandidate{CreatedAt: in, HasDelivery: true, Status: StatusPending, Expunged: true}, false, false},
	} {
		tc.params.Since = since
		task := &Task{Kind: tc.kind, Params: tc.params}
		if got := task.Queues(ep, tc.cand); got != tc.queues {
			t.Errorf("%s: Queues = %v, want %v", tc.what, got, tc.queues)
		}
		if got := task.Skips(ep, tc.cand); got != tc.skip {
			t.Errorf("%s: Skips = %v, want %v", tc.what, got, tc.skip)
		}
	}

	task := &Task{Kind: TaskEndpointRecover, Status: TaskRunning, Params: TaskParams{Since: since}}
	cands := []TaskCandidate{
		{MsgID: "msg_1", CreatedAt: in, HasDelivery: true, Status: StatusFail},
		{MsgID: "msg_2", CreatedAt: in, HasDelivery: true, Status: StatusFail, Expunged: true},
		{MsgID: "msg_3", CreatedAt: in, HasDelivery: true, Status: StatusSuccess, Expunged: true},
	}
	task.Advance(ep, cands, 1, 3)
	if task.Scanned != 3 || task.Queued != 1 || task.Skipped != 1 || task.Cursor != "msg_3" || task.Status != TaskRunning {
		t.Errorf("after a full step: %+v", task)
	}
	task.Advance(ep, cands[1:2], 0, 3)
	if task.Skipped != 2 || task.Status != TaskFinished {
		t.Errorf("after a short step: %+v", task)
	}
}
