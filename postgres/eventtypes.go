package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const eventTypeColumns = "name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at"

func scanEventType(sc scanner) (herald.EventType, error) {
	var (
		et      herald.EventType
		schemas []byte
	)
	err := sc.Scan(&et.Name, &et.Description, &et.Archived, &et.Deprecated, &et.FeatureFlag, &schemas,
		&et.CreatedAt, &et.UpdatedAt)
	if err != nil {
		return et, err
	}
	if schemas != nil {
		et.Schemas = json.RawMessage(schemas)
	}
	et.CreatedAt, et.UpdatedAt = fromTS(et.CreatedAt), fromTS(et.UpdatedAt)
	return et, nil
}

// rawJSON passes a raw JSON document to a jsonb parameter as text, NULL
// for nil.
func rawJSON(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	return string(m)
}

// EventTypeCreate implements herald.EventTypeStore.
func (s *Store) EventTypeCreate(ctx context.Context, et *herald.EventType) error {
	return s.write(ctx, "create event type", func(w *wtx) error {
		_, err := w.exec("INSERT INTO event_types ("+eventTypeColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			et.Name, et.Description, et.Archived, et.Deprecated, et.FeatureFlag, rawJSON(et.Schemas),
			et.CreatedAt, et.UpdatedAt)
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
		et, err = scanEventType(q.QueryRow(ctx, "SELECT "+eventTypeColumns+" FROM event_types WHERE name = $1", name))
		if errors.Is(err, pgx.ErrNoRows) {
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
		tag, err := w.exec(`UPDATE event_types SET description = $1, archived = $2, deprecated = $3,
			feature_flag = $4, schemas = $5, updated_at = $6 WHERE name = $7`,
			et.Description, et.Archived, et.Deprecated, et.FeatureFlag, rawJSON(et.Schemas), et.UpdatedAt, et.Name)
		return affectedOrNotFound(tag, err, errEventTypeNotFound)
	})
}

// EventTypeDelete implements herald.EventTypeStore.
func (s *Store) EventTypeDelete(ctx context.Context, name string) error {
	return s.write(ctx, "delete event type", func(w *wtx) error {
		tag, err := w.exec("DELETE FROM event_types WHERE name = $1", name)
		return affectedOrNotFound(tag, err, errEventTypeNotFound)
	})
}

// EventTypeList implements herald.EventTypeStore.
func (s *Store) EventTypeList(ctx context.Context, p herald.ListParams, includeArchived bool) (herald.Page[herald.EventType], error) {
	p = listParams(p)
	var a args
	cond, dir := pageBounds("name", p, &a)
	if !includeArchived {
		cond += " AND NOT archived"
	}
	query := "SELECT " + eventTypeColumns + " FROM event_types WHERE true" + cond +
		" ORDER BY name " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.EventType
	err := s.read(ctx, "list event types", func(q querier) error {
		var err error
		rows, err = queryAll(ctx, q, scanEventType, query, a...)
		return err
	})
	if err != nil {
		return herald.Page[herald.EventType]{}, err
	}
	return herald.MakePage(rows, p, func(e herald.EventType) string { return e.Name }), nil
}
