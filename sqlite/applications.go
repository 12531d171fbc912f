package sqlite

import (
	"context"
	"database/sql"

	"github.com/herald-webhooks/herald"
)

const appColumns = "id, uid, name, throttle_rate, metadata, created_at, updated_at"

var errAppUIDTaken = herald.Errorf(herald.EConflict, "An application with this uid already exists")

func scanApp(sc scanner) (herald.Application, error) {
	var (
		a        herald.Application
		uid      sql.NullString
		throttle sql.NullInt64
		meta     sql.NullString
		created  int64
		updated  int64
	)
	if err := sc.Scan(&a.ID, &uid, &a.Name, &throttle, &meta, &created, &updated); err != nil {
		return a, err
	}
	a.UID = uid.String
	a.ThrottleRate = fromIntPtr(throttle)
	a.CreatedAt, a.UpdatedAt = fromTS(created), fromTS(updated)
	return a, fromJSON(meta, &a.Metadata)
}

// ApplicationCreate implements herald.ApplicationStore.
func (s *Store) ApplicationCreate(ctx context.Context, app *herald.Application) error {
	meta, err := jsonText(app.Metadata)
	if err != nil {
		return err
	}
	return s.write(ctx, "create application", func(w *wtx) error {
		w.w.fanOut.forget(app.ID) // a message to it may have been refused before
		_, err := w.exec("INSERT INTO applications ("+appColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
			app.ID, nullStr(app.UID), app.Name, intPtr(app.ThrottleRate), meta, ts(app.CreatedAt), ts(app.UpdatedAt))
		if isUnique(err) {
			return errAppUIDTaken
		}
		return err
	})
}

// ApplicationGet implements herald.ApplicationStore.
func (s *Store) ApplicationGet(ctx context.Context, key string) (*herald.Application, error) {
	cached, gen, ok := s.apps.get(key)
	if ok {
		return cached, nil
	}
	var app herald.Application
	err := s.read(ctx, "get application", func(q querier) error {
		var err error
		app, err = scanApp(q.QueryRowContext(ctx,
			"SELECT "+appColumns+" FROM applications WHERE id = ? OR uid = ? ORDER BY id = ? DESC LIMIT 1",
			key, key, key))
		if err == sql.ErrNoRows {
			return errAppNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.apps.put(gen, key, &app)
	return &app, nil
}

// ApplicationUpdate implements herald.ApplicationStore.
func (s *Store) ApplicationUpdate(ctx context.Context, app *herald.Application) error {
	meta, err := jsonText(app.Metadata)
	if err != nil {
		return err
	}
	defer s.apps.invalidate()
	return s.write(ctx, "update application", func(w *wtx) error {
		res, err := w.exec(`UPDATE applications SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, updated_at = ?
			WHERE id = ?`,
			nullStr(app.UID), app.Name, intPtr(app.ThrottleRate), meta, ts(app.UpdatedAt), app.ID)
		if isUnique(err) {
			return errAppUIDTaken
		}
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errAppNotFound)
		}
		return nil
	})
}

// ApplicationDelete implements herald.ApplicationStore: its endpoints,
// messages, deliveries, attempts and tokens go with it.
func (s *Store) ApplicationDelete(ctx context.Context, id string) error {
	defer s.apps.invalidate()
	defer s.handoff.drop(func(j *herald.DeliveryJob) bool { return j.Delivery.AppID == id })
	return s.write(ctx, "delete application", func(w *wtx) error {
		w.w.fanOut.forget(id)
		s.due.unknown() // its endpoints' pending deliveries go with it
		res, err := w.exec("DELETE FROM applications WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errAppNotFound)
		}
		return nil
	})
}

// ApplicationList implements herald.ApplicationStore.
func (s *Store) ApplicationList(ctx context.Context, p herald.ListParams) (herald.Page[herald.Application], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("id", p)
	var rows []herald.Application
	err := s.read(ctx, "list applications", func(q querier) error {
		r, err := q.QueryContext(ctx, "SELECT "+appColumns+" FROM applications WHERE (uid IS NULL OR uid <> '"+herald.OperationalAppUID+"')"+cond+
			" ORDER BY id "+dir+" LIMIT ?", append(args, p.Limit+1)...)
		if err != nil {
			return err
		}
		rows, err = collect(r, scanApp)
		return err
	})
	if err != nil {
		return herald.Page[herald.Application]{}, err
	}
	return herald.MakePage(rows, p, func(a herald.Application) string { return a.ID }), nil
}

// orNotFound returns err if set, else notFound.
func orNotFound(err error, notFound *herald.Error) error {
	if err != nil {
		return err
	}
	return notFound
}
