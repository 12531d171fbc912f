package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const taskColumns = "id, app_id, kind, status, params, cursor, scanned, queued, skipped, error, created_at, updated_at"

// idAfterAll is greater than every ID: the upper bound of an open range.
const idAfterAll = "~"

func scanTask(sc scanner) (herald.Task, error) {
	var t herald.Task
	var appID *string
	var params []byte
	var scanned, queued, skipped int64
	err := sc.Scan(&t.ID, &appID, &t.Kind, &t.Status, &params, &t.Cursor, &scanned, &queued, &skipped, &t.Error,
		&t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return t, err
	}
	t.AppID, t.Scanned, t.Queued, t.Skipped = fromNullStr(appID), int(scanned), int(queued), int(skipped)
	t.CreatedAt, t.UpdatedAt = fromTS(t.CreatedAt), fromTS(t.UpdatedAt)
	if err := json.Unmarshal(params, &t.Params); err != nil {
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
		_, err := w.exec("INSERT INTO tasks ("+taskColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
			t.ID, nullStr(t.AppID), t.Kind, t.Status, string(params), t.Cursor, t.Scanned, t.Queued, t.Skipped, t.Error,
			t.CreatedAt, t.UpdatedAt)
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
		t, err = getTask(ctx, q, id, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// getTask reads the task with this ID; lock is "" or a locking clause.
func getTask(ctx context.Context, q querier, id, lock string) (herald.Task, error) {
	t, err := scanTask(q.QueryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = $1"+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, herald.Errorf(herald.ENotFound, "Background task not found")
	}
	return t, err
}

// TaskList implements herald.AuthStore.
func (s *Store) TaskList(ctx context.Context, f herald.TaskFilter, p herald.ListParams) (herald.Page[herald.Task], error) {
	p = listParams(p)
	a := args{}
	var filter string
	for _, c := range []struct{ col, v string }{{"app_id", f.AppID}, {"status", f.Status}, {"kind", f.Kind}} {
		if c.v != "" {
			filter += " AND " + c.col + " = " + a.add(c.v)
		}
	}
	cond, dir := pageBounds("id", p, &a)
	limit := a.add(p.Limit + 1)
	var rows []herald.Task
	err := s.read(ctx, "list tasks", func(q querier) error {
		var err error
		rows, err = queryAll(ctx, q, scanTask, "SELECT "+taskColumns+" FROM tasks WHERE true"+filter+cond+
			" ORDER BY id "+dir+" LIMIT "+limit, a...)
		return err
	})
	if err != nil {
		return herald.Page[herald.Task]{}, err
	}
	return herald.MakePage(rows, p, func(t herald.Task) string { return t.ID }), nil
}

// TaskStep implements herald.AuthStore: one batch of the task and its
// progress in one transaction. The task's row is locked first, so that
// two processes stepping the same task take turns.
func (s *Store) TaskStep(ctx context.Context, id string, limit int, now time.Time) (*herald.Task, error) {
	var out herald.Task
	err := s.write(ctx, "step task", func(w *wtx) error {
		t, err := getTask(w.ctx, w.tx, id, " FOR UPDATE")
		if err != nil || t.Status != herald.TaskRunning {
			out = t
			return err
		}
		if err := stepTask(w, &t, limit, now); err != nil {
			return err
		}
		out = t
		_, err = w.exec(`UPDATE tasks SET status = $1, cursor = $2, scanned = $3, queued = $4, skipped = $5, error = $6,
				updated_at = $7 WHERE id = $8`, t.Status, t.Cursor, t.Scanned, t.Queued, t.Skipped, t.Error, t.UpdatedAt, t.ID)
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
	ep, err := scanEndpoint(w.codec, w.tx.QueryRow(w.ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE id = $1 AND app_id = $2",
		t.Params.EndpointID, t.AppID))
	if errors.Is(err, pgx.ErrNoRows) {
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
	w.notify = w.notify || queued > 0
	return nil
}

// lockSendable share-locks those of the messages that still have their
// payload until the transaction ends, and returns them: an expunge
// (manual or by retention) of one of them waits for the step and then
// sees the deliveries it queued (see MessageExpungeContent).
func lockSendable(w *wtx, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	kept, err := queryAll(w.ctx, w.tx, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, "SELECT id FROM messages WHERE id = ANY($1) AND payload IS NOT NULL ORDER BY id FOR SHARE", ids)
	for _, id := range kept {
		out[id] = true
	}
	return out, err
}

// taskCandidates reads the task's next messages after its cursor, in ID
// order, with the state of their delivery to the endpoint.
func taskCandidates(w *wtx, t *herald.Task, endpointID string, limit int) ([]herald.TaskCandidate, error) {
	upper := idAfterAll
	if !t.Params.Until.IsZero() {
		upper = herald.MessageIDBound(t.Params.Until)
	}
	return queryAll(w.ctx, w.tx, func(sc scanner) (herald.TaskCandidate, error) {
		var c herald.TaskCandidate
		var status *int
		if err := sc.Scan(&c.MsgID, &c.EventType, &c.Channels, &c.CreatedAt, &c.Expunged, &status); err != nil {
			return c, err
		}
		c.CreatedAt, c.HasDelivery = fromTS(c.CreatedAt), status != nil
		if status != nil {
			c.Status = herald.MessageStatus(*status)
		}
		return c, nil
	}, `SELECT m.id, m.event_type, m.channels, m.created_at, m.payload IS NULL, d.status FROM messages m
			LEFT JOIN deliveries d ON d.msg_id = m.id AND d.endpoint_id = $1
		WHERE m.app_id = $2 AND m.id >= $3 AND m.id > $4 AND m.id < $5
		ORDER BY m.id LIMIT $6`,
		endpointID, t.AppID, herald.MessageIDBound(t.Params.Since), t.Cursor, upper, limit)
}

// queueCandidates queues the deliveries of the candidates the task calls
// for and reports how many it queued. The messages to queue are locked
// first (lockSendable), and those expunged since the candidates were read
// are marked Expunged instead.
func queueCandidates(w *wtx, t *herald.Task, ep *herald.Endpoint, cands []herald.TaskCandidate, now time.Time) (int, error) {
	var wanted []string
	for _, c := range cands {
		if t.Queues(ep, c) {
			wanted = append(wanted, c.MsgID)
		}
	}
	sendable, err := lockSendable(w, wanted)
	if err != nil {
		return 0, err
	}
	var requeue, create []string
	for i := range cands {
		c := &cands[i]
		switch {
		case !t.Queues(ep, *c):
		case !sendable[c.MsgID]:
			c.Expunged = true
		case c.HasDelivery:
			requeue = append(requeue, c.MsgID)
		default:
			create = append(create, c.MsgID)
		}
	}
	n := 0
	if len(requeue) > 0 {
		tag, err := w.exec(`UPDATE deliveries SET status = `+sqlPending+`, attempts = 0,
				next_attempt_at = greatest($1, (SELECT deliver_at FROM messages m WHERE m.id = deliveries.msg_id)),
				lease_until = NULL, trigger_type = $2, updated_at = $1
			WHERE endpoint_id = $3 AND msg_id = ANY($4) AND status NOT IN (`+sqlPending+`, `+sqlSending+`)`,
			now, int(herald.TriggerManual), ep.ID, requeue)
		if err != nil {
			return 0, err
		}
		n += int(tag.RowsAffected())
	}
	for _, msgID := range create {
		tag, err := w.exec(`INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts,
				next_attempt_at, lease_until, trigger_type, created_at, updated_at)
			VALUES ($1, $2, $3, $4, `+sqlPending+`, 0, greatest($5, (SELECT deliver_at FROM messages WHERE id = $3)),
				NULL, $6, $5, $5) ON CONFLICT (msg_id, endpoint_id) DO NOTHING`,
			herald.NewID(herald.PrefixDelivery, now), t.AppID, msgID, ep.ID, now, int(herald.TriggerManual))
		if err != nil {
			return 0, err
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
