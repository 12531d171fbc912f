package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/herald-webhooks/herald"
)

const attemptColumns = "id, delivery_id, app_id, msg_id, endpoint_id, url, status, response_status_code, " +
	"response, response_duration_ms, trigger_type, created_at"

const attemptColumnsA = "a.id, a.delivery_id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status, " +
	"a.response_status_code, a.response, a.response_duration_ms, a.trigger_type, a.created_at"

func scanAttempt(sc scanner) (herald.Attempt, error) {
	var a herald.Attempt
	var created int64
	err := sc.Scan(&a.ID, &a.DeliveryID, &a.AppID, &a.MsgID, &a.EndpointID, &a.URL, &a.Status,
		&a.ResponseStatusCode, &a.Response, &a.ResponseDurationMs, &a.Trigger, &created)
	a.CreatedAt = fromTS(created)
	return a, err
}

// AttemptGet implements herald.AttemptStore.
func (s *Store) AttemptGet(ctx context.Context, appID, msgID, attemptID string) (*herald.Attempt, error) {
	var a herald.Attempt
	err := s.read(ctx, "get attempt", func(q querier) error {
		var err error
		a, err = scanAttempt(q.QueryRowContext(ctx, "SELECT "+attemptColumns+
			" FROM attempts WHERE id = ? AND app_id = ? AND msg_id = ?", attemptID, appID, msgID))
		if err == sql.ErrNoRows {
			return errAttemptNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// attemptFilter returns the conditions of f on attempts aliased a (and
// messages aliased m, joined when needsMessage).
func attemptFilter(f herald.AttemptFilter) (cond string, args []any, needsMessage bool) {
	var b strings.Builder
	if f.MsgID != "" {
		b.WriteString(" AND a.msg_id = ?")
		args = append(args, f.MsgID)
	}
	if f.EndpointID != "" {
		b.WriteString(" AND a.endpoint_id = ?")
		args = append(args, f.EndpointID)
	}
	if f.Status != nil {
		b.WriteString(" AND a.status = ?")
		args = append(args, int(*f.Status))
	}
	if f.StatusCodeClass != nil {
		b.WriteString(" AND a.response_status_code >= ? AND a.response_status_code < ?")
		args = append(args, *f.StatusCodeClass, *f.StatusCodeClass+100)
	}
	mcond, margs := messageFilter(f.MessageFilter, "a.created_at")
	b.WriteString(mcond)
	args = append(args, margs...)
	return b.String(), args, len(f.EventTypes) > 0 || f.Channel != ""
}

// AttemptList implements herald.AttemptStore. Before and After apply to the
// attempt's time; EventTypes and Channel to its message. ENotFound if the
// application does not exist.
func (s *Store) AttemptList(ctx context.Context, appID string, f herald.AttemptFilter, p herald.ListParams) (herald.Page[herald.Attempt], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("a.id", p)
	fcond, fargs, join := attemptFilter(f)
	from := "attempts a"
	if join {
		from += " JOIN messages m ON m.id = a.msg_id"
	}
	var rows []herald.Attempt
	err := s.read(ctx, "list attempts", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		all := append(append(append([]any{appID}, args...), fargs...), p.Limit+1)
		r, err := q.QueryContext(ctx, "SELECT "+attemptColumnsA+" FROM "+from+" WHERE a.app_id = ?"+cond+fcond+
			" ORDER BY a.id "+dir+" LIMIT ?", all...)
		if err != nil {
			return err
		}
		rows, err = collect(r, scanAttempt)
		return err
	})
	if err != nil {
		return herald.Page[herald.Attempt]{}, err
	}
	return herald.MakePage(rows, p, func(a herald.Attempt) string { return a.ID }), nil
}

// AttemptExpungeContent implements herald.AttemptStore.
func (s *Store) AttemptExpungeContent(ctx context.Context, appID, msgID, attemptID string) error {
	return s.write(ctx, "expunge attempt content", func(w *wtx) error {
		res, err := w.exec("UPDATE attempts SET response = '' WHERE id = ? AND app_id = ? AND msg_id = ?",
			attemptID, appID, msgID)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errAttemptNotFound)
		}
		return nil
	})
}
