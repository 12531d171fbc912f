package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"time"

	"github.com/herald-webhooks/herald"
)

const taskColumns = "id, app_id, kind, status, params, cursor, scanned, queued, skipped, error, created_at, updated_at"

// idAfterAll is greater than every ID: the upper bound of an open range.
const idAfterAll = "~"

func scanTask(sc scanner) (herald.Task, error) {
	var t herald.Task
	var appID sql.NullString
	var params string
	var created, updated int64
	err := sc.Scan(&t.ID, &appID, &t.Kind, &t.Status, &params, &t.Cursor, &t.Scanned, &t.Queued, &t.Skipped, &t.Error,
		&created, &updated)
	if err != nil {
		return t, err
	}
	t.AppID, t.CreatedAt, t.UpdatedAt = appID.String, fromTS(created), fromTS(updated)
	if err := json.Unmarshal([]byte(params), &t.Params); err != nil {
		return t, fmt.Errorf("decode task params: %w", err)
	}
	return t, nil
}

// TaskCreate implements herald.AuthStore.
func (s *Store) TaskCreate(ctx context.Context, t *herald.Task) error {
	params, err := json.Marshal(t.Params)
	if err != nil {
		return fmt.Errorf("encode task params: %w", err)
	}
	return s.write(ctx, "create task", func(w *wtx) error {
		_, err := w.exec("INSERT INTO tasks ("+taskColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, nullStr(t.AppID), t.Kind, t.Status, string(params), t.Cursor, t.Scanned, t.Queued, t.Skipped, t.Error,
			ts(t.CreatedAt), ts(t.UpdatedAt))
		if isUnique(err) {
			return herald.Errorf(herald.EConflict, "Task already exists")
		}
		return err
	})
}

// TaskGet implements herald.AuthStore.
func (s *Store) TaskGet(ctx context.Context, id string) (*herald.Task, error) {
	var t herald.Task
	err := s.read(ctx, "get task", func(q querier) error {
		var err error
		t, err = getTask(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func getTask(ctx context.Context, q querier, id string) (herald.Task, error) {
	t, err := scanTask(q.QueryRowContext(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return t, herald.Errorf(herald.ENotFound, "Background task not found")
	}
	return t, err
}

// TaskList implements herald.AuthStore.
func (s *Store) TaskList(ctx context.Context, f herald.TaskFilter, p herald.ListParams) (herald.Page[herald.Task], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("id", p)
	var filter string
	var fargs []any
	for _, c := range []struct{ col, v string }{{"app_id", f.AppID}, {"status", f.Status}, {"kind", f.Kind}} {
		if c.v != "" {
			filter += " AND " + c.col + " = ?"
			fargs = append(fargs, c.v)
		}
	}
	var rows []herald.Task
	err := s.read(ctx, "list tasks", func(q querier) error {
		r, err := q.QueryContext(ctx, "SELECT "+taskColumns+" FROM tasks WHERE 1=1"+filter+cond+
			" ORDER BY id "+dir+" LIMIT ?", append(append(fargs, args...), p.Limit+1)...)
		if err != nil {
			return err
		}
		rows, err = collect(r, scanTask)
		return err
	})
	if err != nil {
		return herald.Page[herald.Task]{}, err
	}
	return herald.MakePage(rows, p, func(t herald.Task) string { return t.ID }), nil
}

// TaskStep implements herald.AuthStore: one batch of the task and its
// progress, in one write transaction, so the writer is held for one
// bounded batch at a time.
func (s *Store) TaskStep(ctx context.Context, id string, limit int, now time.Time) (*herald.Task, error) {
	var out herald.Task
	err := s.write(ctx, "step task", func(w *wtx) error {
		t, err := getTask(w.ctx, w, id)
		if err != nil || t.Status != herald.TaskRunning {
			out = t
			return err
		}
		if err := stepTask(w, &t, limit, now); err != nil {
			return err
		}
		out = t
		_, err = w.exec(`UPDATE tasks SET status = ?, cursor = ?, scanned = ?, queued = ?, skipped = ?, error = ?,
				updated_at = ? WHERE id = ?`, t.Status, t.Cursor, t.Scanned, t.Queued, t.Skipped, t.Error, ts(t.UpdatedAt), t.ID)
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return nil, err
	}
	return &out, nil
}

// stepTask examines the task's next batch of messages and queues the
// deliveries it calls for, updating t's progress.
func stepTask(w *wtx, t *herald.Task, limit int, now time.Time) error {
	t.UpdatedAt = now
	if !herald.TaskKnown(t.Kind) {
		t.Status, t.Error = herald.TaskFailed, "unknown task kind "+t.Kind
		return nil
	}
	ep, err := scanEndpoint(w.w.codec, w.queryRow("SELECT "+endpointColumns+" FROM endpoints WHERE id = ? AND app_id = ?",
		t.Params.EndpointID, t.AppID))
	if err == sql.ErrNoRows {
		t.Status, t.Error = herald.TaskFailed, "endpoint not found"
		return nil
	}
	if err != nil {
		return err
	}
	cands, err := taskCandidates(w, t, ep.ID, limit)
	if err != nil {
		return err
	}
	queued, err := queueCandidates(w, t, &ep, cands, now)
	if err != nil {
		return err
	}
	t.Advance(&ep, cands, queued, limit)
	if queued > 0 {
		w.notify = true
		w.due(ep.ID, now)
	}
	return nil
}

// taskCandidates reads the task's next messages after its cursor, in ID
// order, with the state of their delivery to the endpoint.
func taskCandidates(w *wtx, t *herald.Task, endpointID string, limit int) ([]herald.TaskCandidate, error) {
	upper := idAfterAll
	if !t.Params.Until.IsZero() {
		upper = herald.MessageIDBound(t.Params.Until)
	}
	rows, err := w.query(`SELECT m.id, m.event_type, m.channels, m.created_at, m.payload IS NULL, d.status FROM messages m
			LEFT JOIN deliveries d ON d.msg_id = m.id AND d.endpoint_id = ?
		WHERE m.app_id = ? AND m.id >= ? AND m.id > ? AND m.id < ?
		ORDER BY m.id LIMIT ?`,
		endpointID, t.AppID, herald.MessageIDBound(t.Params.Since), t.Cursor, upper, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc scanner) (herald.TaskCandidate, error) {
		var c herald.TaskCandidate
		var channels sql.NullString
		var created int64
		var status sql.NullInt64
		if err := sc.Scan(&c.MsgID, &c.EventType, &channels, &created, &c.Expunged, &status); err != nil {
			return c, err
		}
		c.CreatedAt, c.HasDelivery, c.Status = fromTS(created), status.Valid, herald.MessageStatus(status.Int64)
		return c, fromJSON(channels, &c.Channels)
	})
}

// queueCandidates queues the deliveries of the candidates the task calls
// for, due now or at the message's deliverAt if later, and reports how
// many it queued.
func queueCandidates(w *wtx, t *herald.Task, ep *herald.Endpoint, cands []herald.TaskCandidate, now time.Time) (int, error) {
	n := 0
	for _, c := range cands {
		if !t.Queues(ep, c) {
			continue
		}
		var res sql.Result
		var err error
		if c.HasDelivery {
			res, err = w.exec(`UPDATE deliveries SET status = ?, attempts = 0,
					next_attempt_at = max(?, (SELECT deliver_at FROM messages WHERE id = ?)), lease_until = 0,
					trigger_type = ?, updated_at = ?
				WHERE msg_id = ? AND endpoint_id = ? AND status NOT IN (1, 3)`,
				herald.StatusPending, ts(now), c.MsgID, herald.TriggerManual, ts(now), c.MsgID, ep.ID)
		} else {
			res, err = w.exec(`INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts,
					next_attempt_at, lease_until, trigger_type, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 0, max(?, (SELECT deliver_at FROM messages WHERE id = ?)), 0, ?, ?, ?)
				ON CONFLICT (msg_id, endpoint_id) DO NOTHING`,
				herald.NewID(herald.PrefixDelivery, now), t.AppID, c.MsgID, ep.ID, herald.StatusPending,
				ts(now), c.MsgID, herald.TriggerManual, ts(now), ts(now))
		}
		if err != nil {
			return 0, err
		}
		k, err := affected(res)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}
