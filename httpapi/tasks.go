package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/herald-webhooks/herald"
)

// replayIn is the body of recover, replay-missing and bulk-replay: Svix's
// RecoverIn and ReplayIn, with the filters of a bulk replay.
type replayIn struct {
	Since      opt[time.Time]            `json:"since"`
	Until      opt[time.Time]            `json:"until"`
	Status     opt[herald.MessageStatus] `json:"status"`
	EventTypes opt[[]string]             `json:"eventTypes"`
	Channel    opt[string]               `json:"channel"`
}

// validate checks the time range, and the filters when bulk.
func (in *replayIn) validate(p *problems, bulk bool) {
	since, ok := in.Since.value()
	if !ok {
		p.add("since is required", "body", "since")
	}
	if until, set := in.Until.value(); set && ok && !until.After(since) {
		p.add("until must be after since", "body", "until")
	}
	if !bulk {
		if in.Status.Set || in.EventTypes.Set || in.Channel.Set {
			p.add("status, eventTypes and channel are filters of bulk-replay only", "body")
		}
		return
	}
	if st, set := in.Status.value(); set && st != herald.StatusSuccess && st != herald.StatusFail && st != herald.StatusCanceled {
		p.add("status must be 0 (success), 2 (fail) or 4 (canceled): pending and sending deliveries are already queued", "body", "status")
	}
	types, _ := in.EventTypes.value()
	for _, et := range types {
		if !herald.ValidEventTypeName(et) {
			p.add("invalid event type name "+quote(et), "body", "eventTypes")
		}
	}
	if ch, set := in.Channel.value(); set && !herald.ValidChannel(ch) {
		p.add("invalid channel "+quote(ch), "body", "channel")
	}
}

// params returns the task parameters the body asks for.
func (in *replayIn) params(endpointID string) herald.TaskParams {
	p := herald.TaskParams{EndpointID: endpointID, Since: in.Since.V.UTC()}
	if until, ok := in.Until.value(); ok {
		p.Until = until.UTC()
	}
	if st, ok := in.Status.value(); ok {
		p.Status = &st
	}
	p.EventTypes, _ = in.EventTypes.value()
	p.Channel, _ = in.Channel.value()
	return p
}

// startTask answers a request for a background task of kind on the
// route's endpoint: 202 with the task, which the maintenance leader runs
// in batches (a replay never runs inside the request).
func (s *server) startTask(kind string) http.HandlerFunc {
	bulk := kind == herald.TaskEndpointBulkReplay
	return func(w http.ResponseWriter, r *http.Request) {
		var in replayIn
		if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, bulk) }); err != nil {
			writeError(w, err, s.log)
			return
		}
		app, ep, err := s.endpoint(r)
		if err == nil && ep.Disabled && kind != herald.TaskEndpointRecover {
			err = herald.Errorf(herald.EConflict, "The endpoint is disabled: enable it (PATCH disabled: false) before replaying messages to it.")
		}
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		now := s.cfg.Now()
		task := &herald.Task{ID: herald.NewID(herald.PrefixTask, now), AppID: app.ID, Kind: kind, Status: herald.TaskRunning,
			Params: in.params(ep.ID), CreatedAt: now, UpdatedAt: now}
		if err := s.store.TaskCreate(r.Context(), task); err != nil {
			writeError(w, err, s.log)
			return
		}
		writeJSON(w, http.StatusAccepted, toTask(task))
	}
}

// taskOut is Svix's BackgroundTaskOut (and, without data, its RecoverOut
// and ReplayOut), with the task's times.
type taskOut struct {
	ID        string      `json:"id"`
	Status    string      `json:"status"`
	Task      string      `json:"task"`
	Data      taskDataOut `json:"data"`
	CreatedAt string      `json:"createdAt"`
	UpdatedAt string      `json:"updatedAt"`
}

// taskDataOut is what a task works on, its progress and its result.
type taskDataOut struct {
	AppID      string   `json:"appId,omitempty"`
	EndpointID string   `json:"endpointId,omitempty"`
	Since      *string  `json:"since,omitempty"`
	Until      *string  `json:"until,omitempty"`
	Status     *int     `json:"status,omitempty"`
	EventTypes []string `json:"eventTypes,omitempty"`
	Channel    string   `json:"channel,omitempty"`
	// MessagesExamined is the progress: messages of the range looked at.
	MessagesExamined int `json:"messagesExamined"`
	// DeliveriesQueued is the result: deliveries queued so far.
	DeliveriesQueued int `json:"deliveriesQueued"`
	// MessagesSkipped counts the messages the task would have sent but
	// could not, for SkippedReason (their payload was expunged).
	MessagesSkipped int    `json:"messagesSkipped"`
	SkippedReason   string `json:"skippedReason,omitempty"`
	Error           string `json:"error,omitempty"`
}

func toTask(t *herald.Task) taskOut {
	p := t.Params
	d := taskDataOut{AppID: t.AppID, EndpointID: p.EndpointID, EventTypes: p.EventTypes, Channel: p.Channel,
		MessagesExamined: t.Scanned, DeliveriesQueued: t.Queued, MessagesSkipped: t.Skipped, Error: t.Error}
	if t.Skipped > 0 {
		d.SkippedReason = herald.SkipPayloadExpunged
	}
	if !p.Since.IsZero() {
		d.Since = strPtr(formatTime(p.Since))
	}
	if !p.Until.IsZero() {
		d.Until = strPtr(formatTime(p.Until))
	}
	if p.Status != nil {
		st := int(*p.Status)
		d.Status = &st
	}
	return taskOut{ID: t.ID, Status: t.Status, Task: t.Kind, Data: d, CreatedAt: formatTime(t.CreatedAt), UpdatedAt: formatTime(t.UpdatedAt)}
}

// taskScope returns the application whose tasks the request may see: ""
// for an admin, else the token's.
func taskScope(r *http.Request) string {
	if p := principalFrom(r.Context()); p != nil && !p.admin {
		return p.token.AppID
	}
	return ""
}

// listBackgroundTasks lists tasks, newest first unless order=ascending,
// filtered on status and task kind; a token scoped to an application sees
// only that application's tasks.
func (s *server) listBackgroundTasks(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(false)
	switch q.v.Get("order") {
	case "", "descending":
	case "ascending":
		p.Ascending = true
	default:
		q.errs.add("order must be 'ascending' or 'descending'", "query", "order")
	}
	f := herald.TaskFilter{AppID: taskScope(r), Status: q.v.Get("status"), Kind: q.v.Get("task")}
	if f.Status != "" && !slices.Contains([]string{herald.TaskRunning, herald.TaskFinished, herald.TaskFailed}, f.Status) {
		q.errs.add("status must be 'running', 'finished' or 'failed'", "query", "status")
	}
	if f.Kind != "" && !herald.TaskKnown(f.Kind) {
		q.errs.add("task must be 'endpoint.recover', 'endpoint.replay' or 'endpoint.bulk_replay'", "query", "task")
	}
	if err := q.errs.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.TaskList(r.Context(), f, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, toTask))
}

// getBackgroundTask returns one task; another application's task is not
// found for a scoped token.
func (s *server) getBackgroundTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.store.TaskGet(r.Context(), r.PathValue("task_id"))
	if err == nil {
		if scope := taskScope(r); scope != "" && t.AppID != scope {
			err = herald.Errorf(herald.ENotFound, "Background task not found")
		}
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toTask(t))
}
