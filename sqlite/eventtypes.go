package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/herald-webhooks/herald"
)

const eventTypeColumns = "name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at"

func scanEventType(sc scanner) (herald.EventType, error) {
	var (
		et               herald.EventType
		schemas          sql.NullString
		created, updated int64
	)
	err := sc.Scan(&et.Name, &et.Description, &et.Archived, &et.Deprecated, &et.FeatureFlag, &schemas, &created, &updated)
	if err != nil {
		return et, err
	}
	if schemas.Valid {
		et.Schemas = json.RawMessage(schemas.String)
	}
	et.CreatedAt, et.UpdatedAt = fromTS(created), fromTS(updated)
	return et, nil
}

// rawJSON stores a nil raw message as NULL.
func rawJSON(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	return string(m)
}

// EventTypeCreate implements herald.EventTypeStore.
func (s *Store) EventTypeCreate(ctx context.Context, et *herald.EventType) error {
	return s.write(ctx, "create event type", func(w *wtx) error {
		_, err := w.exec("INSERT INTO event_types ("+eventTypeColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			et.Name, et.Description, boolInt(et.Archived), boolInt(et.Deprecated), et.FeatureFlag,
			rawJSON(et.Schemas), ts(et.CreatedAt), ts(et.UpdatedAt))
		if isUnique(err) {
			return herald.Errorf(herald.EConflict, "An event type with this name already exists")
		}
		return err
	})
}

// EventTypeGet implements herald.EventTypeStore.
func (s *Store) EventTypeGet(ctx context.Context, name string) (*herald.EventType, error) {
	var et herald.EventType
	err := s.read(ctx, "get event type", func(q querier) error {
		var err error
		et, err = scanEventType(q.QueryRowContext(ctx, "SELECT "+eventTypeColumns+" FROM event_types WHERE name = ?", name))
		if err == sql.ErrNoRows {
			return errEventTypeNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &et, nil
}

// EventTypeUpdate implements herald.EventTypeStore.
func (s *Store) EventTypeUpdate(ctx context.Context, et *herald.EventType) error {
	return s.write(ctx, "update event type", func(w *wtx) error {
		res, err := w.exec(`UPDATE event_types SET description = ?, archived = ?, deprecated = ?,
			feature_flag = ?, schemas = ?, updated_at = ? WHERE name = ?`,
			et.Description, boolInt(et.Archived), boolInt(et.Deprecated), et.FeatureFlag,
			rawJSON(et.Schemas), ts(et.UpdatedAt), et.Name)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errEventTypeNotFound)
		}
		return nil
	})
}

// EventTypeDelete implements herald.EventTypeStore.
func (s *Store) EventTypeDelete(ctx context.Context, name string) error {
	return s.write(ctx, "delete event type", func(w *wtx) error {
		res, err := w.exec("DELETE FROM event_types WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errEventTypeNotFound)
		}
		return nil
	})
}

// EventTypeList implements herald.EventTypeStore.
func (s *Store) EventTypeList(ctx context.Context, p herald.ListParams, includeArchived bool) (herald.Page[herald.EventType], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("name", p)
	if !includeArchived {
		cond += " AND archived = 0"
	}
	var rows []herald.EventType
	err := s.read(ctx, "list event types", func(q querier) error {
		r, err := q.QueryContext(ctx, "SELECT "+eventTypeColumns+" FROM event_types WHERE 1=1"+cond+
			" ORDER BY name "+dir+" LIMIT ?", append(args, p.Limit+1)...)
		if err != nil {
			return err
		}
		rows, err = collect(r, scanEventType)
		return err
	})
	if err != nil {
		return herald.Page[herald.EventType]{}, err
	}
	return herald.MakePage(rows, p, func(e herald.EventType) string { return e.Name }), nil
}
