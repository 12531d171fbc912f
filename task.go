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
	// Expunged reports whether the message's payload was expunged (by
	// expunge-content or by the retention cleaner): it can no longer be
	// sent.
	Expunged bool
}

// SkipPayloadExpunged is why a task skipped messages (Task.Skipped): their
// payload was expunged, so they can no longer be sent.
const SkipPayloadExpunged = "payload expunged"

// ErrPayloadExpunged is the error of a resend of a message whose payload
// was expunged: there is nothing left to send.
var ErrPayloadExpunged = Errorf(EConflict,
	"The message's payload was expunged (by expunge-content or its payloadRetentionPeriod): it can no longer be resent.")

// Queues reports whether a step of t queues a delivery of c to ep: a new
// one (HasDelivery false) for a replay of missing messages, the existing
// one again for a bulk replay or a recovery. Messages created outside
// [Since, Until) are never queued, nor are those whose payload was
// expunged (see Skips).
func (t *Task) Queues(ep *Endpoint, c TaskCandidate) bool {
	return !c.Expunged && t.wants(ep, c)
}

// Skips reports whether a step of t would queue a delivery of c to ep but
// cannot, because c's payload was expunged: the task counts it in Skipped.
func (t *Task) Skips(ep *Endpoint, c TaskCandidate) bool {
	return c.Expunged && t.wants(ep, c)
}

// wants reports whether c is among the messages t sends again to ep,
// payload aside.
func (t *Task) wants(ep *Endpoint, c TaskCandidate) bool {
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
// for ep and queued deliveries for queued of them: the counts grow (those
// it Skips among Skipped), the cursor moves past the last message
// examined, and a short step finishes the task.
func (t *Task) Advance(ep *Endpoint, cands []TaskCandidate, queued, limit int) {
	t.Scanned += len(cands)
	t.Queued += queued
	for _, c := range cands {
		if t.Skips(ep, c) {
			t.Skipped++
		}
	}
	if len(cands) > 0 {
		t.Cursor = cands[len(cands)-1].MsgID
	}
	if len(cands) < limit {
		t.Status = TaskFinished
	}
}
