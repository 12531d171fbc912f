package postgres

import (
	"context"
	"errors"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const appColumns = "id, uid, name, throttle_rate, metadata, created_at, updated_at"

var errAppUIDTaken = herald.Errorf(herald.EConflict, "An application with this uid already exists")

func scanApp(sc scanner) (herald.Application, error) {
	var (
		a        herald.Application
		uid      *string
		throttle *int64
		meta     []byte
	)
	if err := sc.Scan(&a.ID, &uid, &a.Name, &throttle, &meta, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return a, err
	}
	a.UID = fromNullStr(uid)
	a.ThrottleRate = fromIntPtr(throttle)
	a.CreatedAt, a.UpdatedAt = fromTS(a.CreatedAt), fromTS(a.UpdatedAt)
	return a, fromJSON(meta, &a.Metadata)
}

// ApplicationCreate implements herald.ApplicationStore.
func (s *Store) ApplicationCreate(ctx context.Context, app *herald.Application) error {
	meta, err := jsonArg(app.Metadata)
	if err != nil {
		return err
	}
	return s.write(ctx, "create application", func(w *wtx) error {
		_, err := w.exec("INSERT INTO applications ("+appColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			app.ID, nullStr(app.UID), app.Name, intPtr(app.ThrottleRate), meta, app.CreatedAt, app.UpdatedAt)
		if isUnique(err) {
			return errAppUIDTaken
		}
		return err
	})
}

// ApplicationGet implements herald.ApplicationStore. An ID match wins over
// a UID match.
func (s *Store) ApplicationGet(ctx context.Context, key string) (*herald.Application, error) {
	var app herald.Application
	err := s.read(ctx, "get application", func(q querier) error {
		var err error
		app, err = scanApp(q.QueryRow(ctx,
			"SELECT "+appColumns+" FROM applications WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1", key))
		if errors.Is(err, pgx.ErrNoRows) {
			return errAppNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &app, nil
}

// ApplicationUpdate implements herald.ApplicationStore.
func (s *Store) ApplicationUpdate(ctx context.Context, app *herald.Application) error {
	meta, err := jsonArg(app.Metadata)
	if err != nil {
		return err
	}
	return s.write(ctx, "update application", func(w *wtx) error {
		tag, err := w.exec(`UPDATE applications SET uid = $1, name = $2, throttle_rate = $3, metadata = $4, updated_at = $5
			WHERE id = $6`,
			nullStr(app.UID), app.Name, intPtr(app.ThrottleRate), meta, app.UpdatedAt, app.ID)
		if isUnique(err) {
			return errAppUIDTaken
		}
		return affectedOrNotFound(tag, err, errAppNotFound)
	})
}

// ApplicationDelete implements herald.ApplicationStore: its endpoints,
// messages, deliveries, attempts and tokens go with it.
func (s *Store) ApplicationDelete(ctx context.Context, id string) error {
	return s.write(ctx, "delete application", func(w *wtx) error {
		tag, err := w.exec("DELETE FROM applications WHERE id = $1", id)
		return affectedOrNotFound(tag, err, errAppNotFound)
	})
}

// ApplicationList implements herald.ApplicationStore.
func (s *Store) ApplicationList(ctx context.Context, p herald.ListParams) (herald.Page[herald.Application], error) {
	p = listParams(p)
	var a args
	cond, dir := pageBounds("id", p, &a)
	query := "SELECT " + appColumns + " FROM applications WHERE (uid IS NULL OR uid <> '" + herald.OperationalAppUID + "')" + cond +
		" ORDER BY id " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.Application
	err := s.read(ctx, "list applications", func(q querier) error {
		var err error
		rows, err = queryAll(ctx, q, scanApp, query, a...)
		return err
	})
	if err != nil {
		return herald.Page[herald.Application]{}, err
	}
	return herald.MakePage(rows, p, func(a herald.Application) string { return a.ID }), nil
}
