package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const attemptColumnsA = "a.id, a.delivery_id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status, " +
	"a.response_status_code, a.response, a.response_duration_ms, a.trigger_type, a.created_at"

func scanAttempt(sc scanner) (herald.Attempt, error) {
	var a herald.Attempt
	err := sc.Scan(&a.ID, &a.DeliveryID, &a.AppID, &a.MsgID, &a.EndpointID, &a.URL, &a.Status,
		&a.ResponseStatusCode, &a.Response, &a.ResponseDurationMs, &a.Trigger, &a.CreatedAt)
	a.CreatedAt = fromTS(a.CreatedAt)
	return a, err
}

// AttemptGet implements herald.AttemptStore.
func (s *Store) AttemptGet(ctx context.Context, appID, msgID, attemptID string) (*herald.Attempt, error) {
	var a herald.Attempt
	err := s.read(ctx, "get attempt", func(q querier) error {
		var err error
		a, err = scanAttempt(q.QueryRow(ctx, "SELECT "+attemptColumns+
			" FROM attempts WHERE id = $1 AND app_id = $2 AND msg_id = $3", attemptID, appID, msgID))
		if errors.Is(err, pgx.ErrNoRows) {
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
// messages aliased m, to be joined when needsMessage), adding their
// arguments to args.
func attemptFilter(f herald.AttemptFilter, a *args) (cond string, needsMessage bool) {
	var b strings.Builder
	if f.MsgID != "" {
		b.WriteString(" AND a.msg_id = " + a.add(f.MsgID))
	}
	if f.EndpointID != "" {
		b.WriteString(" AND a.endpoint_id = " + a.add(f.EndpointID))
	}
	if f.Status != nil {
		b.WriteString(" AND a.status = " + a.add(int(*f.Status)))
	}
	if f.StatusCodeClass != nil {
		b.WriteString(" AND a.response_status_code >= " + a.add(*f.StatusCodeClass) +
			" AND a.response_status_code < " + a.add(*f.StatusCodeClass+100))
	}
	b.WriteString(messageFilter(f.MessageFilter, "a.created_at", a))
	return b.String(), len(f.EventTypes) > 0 || f.Channel != ""
}

// AttemptList implements herald.AttemptStore. Before and After apply to the
// attempt's time; EventTypes and Channel to its message. ENotFound if the
// application does not exist.
func (s *Store) AttemptList(ctx context.Context, appID string, f herald.AttemptFilter, p herald.ListParams) (herald.Page[herald.Attempt], error) {
	p = listParams(p)
	a := args{appID}
	cond, dir := pageBounds("a.id", p, &a)
	fcond, join := attemptFilter(f, &a)
	from := "attempts a"
	if join {
		from += " JOIN messages m ON m.id = a.msg_id"
	}
	query := "SELECT " + attemptColumnsA + " FROM " + from + " WHERE a.app_id = $1" + cond + fcond +
		" ORDER BY a.id " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.Attempt
	err := s.read(ctx, "list attempts", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		var err error
		rows, err = queryAll(ctx, q, scanAttempt, query, a...)
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
		tag, err := w.exec("UPDATE attempts SET response = '' WHERE id = $1 AND app_id = $2 AND msg_id = $3",
			attemptID, appID, msgID)
		return affectedOrNotFound(tag, err, errAttemptNotFound)
	})
}
