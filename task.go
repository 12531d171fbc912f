package herald

import (
	"slices"
	"time"
)

// TaskCandidate is a message examined by a step of a replay or recovery
// task (TaskStore.TaskStep), with its delivery to the task's endpoint if it
// has one.
type TaskCandidate struct {
	MsgID     string
	EventType string
	Channels  []string
	CreatedAt time.Time
	// HasDelivery reports whether the message has a delivery to the
	// endpoint; Status is that delivery's status.
	HasDelivery bool
	Status      MessageStatus
}

// Queues reports whether a step of t queues a delivery of c to ep: a new
// one (HasDelivery false) for a replay of missing messages, the existing
// one again for a bulk replay or a recovery. Messages created outside
// [Since, Until) are never queued.
func (t *Task) Queues(ep *Endpoint, c TaskCandidate) bool {
	p := t.Params
	if c.CreatedAt.Before(p.Since) || (!p.Until.IsZero() && !c.CreatedAt.Before(p.Until)) {
		return false
	}
	switch t.Kind {
	case TaskEndpointReplay:
		return !c.HasDelivery && EndpointFilterMatches(ep, c.EventType, c.Channels)
	case TaskEndpointRecover:
		return c.HasDelivery && c.Status == StatusFail
	case TaskEndpointBulkReplay:
		return c.HasDelivery && bulkMatches(p, c)
	}
	return false
}

// bulkMatches applies a bulk replay's filters to a message that has a
// delivery: deliveries already pending or sending are left alone.
func bulkMatches(p TaskParams, c TaskCandidate) bool {
	if c.Status == StatusPending || c.Status == StatusSending {
		return false
	}
	if p.Status != nil && c.Status != *p.Status {
		return false
	}
	if len(p.EventTypes) > 0 && !slices.Contains(p.EventTypes, c.EventType) {
		return false
	}
	return p.Channel == "" || slices.Contains(c.Channels, p.Channel)
}

// TaskKnown reports whether kind is a kind of task TaskStep runs.
func TaskKnown(kind string) bool {
	return kind == TaskEndpointReplay || kind == TaskEndpointRecover || kind == TaskEndpointBulkReplay
}

// MessageIDBound returns the smallest message ID made at t or later, the
// ID bound at which a task's walk starts (message IDs sort by creation
// time).
func MessageIDBound(t time.Time) string {
	return IDAt(PrefixMessage, t)
}

// Advance records a step that examined cands (at most limit, in ID order)
// and queued deliveries for queued of them: the counts grow, the cursor
// moves past the last message examined, and a short step finishes the
// task.
func (t *Task) Advance(cands []TaskCandidate, queued, limit int) {
	t.Scanned += len(cands)
	t.Queued += queued
	if len(cands) > 0 {
		t.Cursor = cands[len(cands)-1].MsgID
	}
	if len(cands) < limit {
		t.Status = TaskFinished
	}
}
