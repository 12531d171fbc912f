package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const endpointColumns = "id, app_id, uid, url, description, event_types, channels, disabled, " +
	"throttle_rate, metadata, headers, secrets, created_at, updated_at"

// endpointColumnsE is endpointColumns on the alias e.
const endpointColumnsE = "e.id, e.app_id, e.uid, e.url, e.description, e.event_types, e.channels, e.disabled, " +
	"e.throttle_rate, e.metadata, e.headers, e.secrets, e.created_at, e.updated_at"

var errEndpointUIDTaken = herald.Errorf(herald.EConflict, "An endpoint with this uid already exists")

// secretJSON is the stored form of a herald.EndpointSecret.
type secretJSON struct {
	Key       string     `json:"key"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// endpointArgs are the encoded columns of ep after id and app_id, up to
// secrets.
func endpointArgs(c herald.SecretCodec, ep *herald.Endpoint) ([]any, error) {
	var secrets []secretJSON
	for _, sec := range ep.Secrets {
		key, err := c.Seal(sec.Key)
		if err != nil {
			return nil, fmt.Errorf("encrypt endpoint secret: %w", err)
		}
		secrets = append(secrets, secretJSON{Key: key, ExpiresAt: sec.ExpiresAt})
	}
	enc := []any{ep.Metadata, ep.Headers, secrets}
	for i, v := range enc {
		j, err := jsonArg(v)
		if err != nil {
			return nil, err
		}
		enc[i] = j
	}
	return []any{nullStr(ep.UID), ep.URL, ep.Description, textArray(ep.EventTypes), textArray(ep.Channels),
		ep.Disabled, intPtr(ep.ThrottleRate), enc[0], enc[1], enc[2]}, nil
}

// endpointRow receives the columns of endpointColumns.
type endpointRow struct {
	e                   herald.Endpoint
	uid                 *string
	meta, hdrs, secrets []byte
	throttle            *int64
}

// dest returns the scan destinations, in endpointColumns order.
func (r *endpointRow) dest() []any {
	e := &r.e
	return []any{&e.ID, &e.AppID, &r.uid, &e.URL, &e.Description, &e.EventTypes, &e.Channels, &e.Disabled,
		&r.throttle, &r.meta, &r.hdrs, &r.secrets, &e.CreatedAt, &e.UpdatedAt}
}

// endpoint decodes the scanned columns, decrypting the secrets with c.
func (r *endpointRow) endpoint(c herald.SecretCodec) (herald.Endpoint, error) {
	e := r.e
	e.UID = fromNullStr(r.uid)
	e.ThrottleRate = fromIntPtr(r.throttle)
	e.CreatedAt, e.UpdatedAt = fromTS(e.CreatedAt), fromTS(e.UpdatedAt)
	var stored []secretJSON
	for _, f := range []struct {
		col []byte
		dst any
	}{{r.meta, &e.Metadata}, {r.hdrs, &e.Headers}, {r.secrets, &stored}} {
		if err := fromJSON(f.col, f.dst); err != nil {
			return e, err
		}
	}
	for _, sec := range stored {
		e.Secrets = append(e.Secrets, herald.EndpointSecret{Key: c.Open(sec.Key), ExpiresAt: fromTSPtr(sec.ExpiresAt)})
	}
	return e, nil
}

// scanEndpoint scans endpointColumns, then extra.
func scanEndpoint(c herald.SecretCodec, sc scanner, extra ...any) (herald.Endpoint, error) {
	var r endpointRow
	if err := sc.Scan(append(r.dest(), extra...)...); err != nil {
		return r.e, err
	}
	return r.endpoint(c)
}

// endpointScanner returns a row scanner of endpointColumns for queryAll.
func endpointScanner(c herald.SecretCodec) func(scanner) (herald.Endpoint, error) {
	return func(sc scanner) (herald.Endpoint, error) { return scanEndpoint(c, sc) }
}

// EndpointCreate implements herald.EndpointStore.
func (s *Store) EndpointCreate(ctx context.Context, ep *herald.Endpoint, maxPerApp int) error {
	enc, err := endpointArgs(s.codec, ep)
	if err != nil {
		return err
	}
	all := append([]any{ep.ID, ep.AppID}, append(enc, ep.CreatedAt, ep.UpdatedAt)...)
	return s.write(ctx, "create endpoint", func(w *wtx) error {
		if maxPerApp > 0 {
			if err := endpointRoom(w, ep.AppID, maxPerApp); err != nil {
				return err
			}
		}
		_, err := w.exec("INSERT INTO endpoints ("+endpointColumns+
			") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)", all...)
		switch {
		case isUnique(err):
			return errEndpointUIDTaken
		case isForeignKey(err):
			return errAppNotFound
		}
		return err
	})
}

// endpointRoom checks that appID has fewer than max endpoints. It first
// locks the application's row (FOR NO KEY UPDATE, which the foreign-key
// checks of message and endpoint inserts do not wait for), so that
// creations in one application, on any node, count one after another.
func endpointRoom(w *wtx, appID string, max int) error {
	var n int
	err := w.tx.QueryRow(w.ctx, "SELECT 1 FROM applications WHERE id = $1 FOR NO KEY UPDATE", appID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return errAppNotFound
	}
	if err != nil {
		return err
	}
	if err := w.tx.QueryRow(w.ctx, "SELECT count(*) FROM endpoints WHERE app_id = $1", appID).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return herald.ErrTooManyEndpoints(max)
	}
	return nil
}

// EndpointGet implements herald.EndpointStore.
func (s *Store) EndpointGet(ctx context.Context, appID, key string) (*herald.Endpoint, error) {
	var ep herald.Endpoint
	err := s.read(ctx, "get endpoint", func(q querier) error {
		var err error
		ep, err = scanEndpoint(s.codec, q.QueryRow(ctx, "SELECT "+endpointColumns+
			" FROM endpoints WHERE app_id = $1 AND (id = $2 OR uid = $2) ORDER BY id = $2 DESC LIMIT 1", appID, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return errEndpointNotFound
		}
		if err != nil {
			return err
		}
		one := []herald.Endpoint{ep}
		err = fillDisabled(ctx, q, one)
		ep = one[0]
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ep, nil
}

// EndpointUpdate implements herald.EndpointStore.
func (s *Store) EndpointUpdate(ctx context.Context, ep *herald.Endpoint) error {
	enc, err := endpointArgs(s.codec, ep)
	if err != nil {
		return err
	}
	all := append(enc, ep.UpdatedAt, ep.ID, ep.AppID)
	return s.write(ctx, "update endpoint", func(w *wtx) error {
		var wasDisabled bool
		err := w.tx.QueryRow(w.ctx, "SELECT disabled FROM endpoints WHERE id = $1 AND app_id = $2 FOR UPDATE",
			ep.ID, ep.AppID).Scan(&wasDisabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return errEndpointNotFound
		}
		if err != nil {
			return err
		}
		tag, err := w.exec(`UPDATE endpoints SET uid = $1, url = $2, description = $3, event_types = $4,
			channels = $5, disabled = $6, throttle_rate = $7, metadata = $8, headers = $9, secrets = $10,
			updated_at = $11 WHERE id = $12 AND app_id = $13`, all...)
		if isUnique(err) {
			return errEndpointUIDTaken
		}
		if err := affectedOrNotFound(tag, err, errEndpointNotFound); err != nil {
			return err
		}
		return updateHealthState(w, ep, wasDisabled)
	})
}

// EndpointDelete implements herald.EndpointStore. The endpoint's
// deliveries (in any state) go with it; its attempts stay as history.
func (s *Store) EndpointDelete(ctx context.Context, appID, id string) error {
	return s.write(ctx, "delete endpoint", func(w *wtx) error {
		tag, err := w.exec("DELETE FROM endpoints WHERE id = $1 AND app_id = $2", id, appID)
		return affectedOrNotFound(tag, err, errEndpointNotFound)
	})
}

// EndpointList implements herald.EndpointStore. ENotFound if the
// application does not exist.
func (s *Store) EndpointList(ctx context.Context, appID string, p herald.ListParams) (herald.Page[herald.Endpoint], error) {
	p = listParams(p)
	a := args{appID}
	cond, dir := pageBounds("id", p, &a)
	query := "SELECT " + endpointColumns + " FROM endpoints WHERE app_id = $1" + cond +
		" ORDER BY id " + dir + " LIMIT " + a.add(p.Limit+1)
	var rows []herald.Endpoint
	err := s.read(ctx, "list endpoints", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		var err error
		rows, err = queryAll(ctx, q, endpointScanner(s.codec), query, a...)
		if err != nil {
			return err
		}
		return fillDisabled(ctx, q, rows)
	})
	if err != nil {
		return herald.Page[herald.Endpoint]{}, err
	}
	return herald.MakePage(rows, p, func(e herald.Endpoint) string { return e.ID }), nil
}

// EndpointStats implements herald.EndpointStore. ENotFound if the endpoint
// does not exist in the application.
func (s *Store) EndpointStats(ctx context.Context, appID, endpointID string, since, until time.Time) (herald.EndpointStats, error) {
	var st herald.EndpointStats
	err := s.read(ctx, "endpoint stats", func(q querier) error {
		if err := endpointExists(ctx, q, appID, endpointID); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT d.status, count(*) FROM deliveries d
			JOIN messages m ON m.id = d.msg_id
			WHERE d.endpoint_id = $1 AND m.created_at >= $2 AND m.created_at < $3
			GROUP BY d.status`, endpointID, sinceTS(since), untilTS(until))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status int16
			var n int
			if err := rows.Scan(&status, &n); err != nil {
				return err
			}
			addStat(&st, herald.MessageStatus(status), n)
		}
		return rows.Err()
	})
	return st, err
}

// addStat adds n deliveries in status to st.
func addStat(st *herald.EndpointStats, status herald.MessageStatus, n int) {
	switch status {
	case herald.StatusSuccess:
		st.Success = n
	case herald.StatusPending:
		st.Pending = n
	case herald.StatusFail:
		st.Fail = n
	case herald.StatusSending:
		st.Sending = n
	case herald.StatusCanceled:
		st.Canceled = n
	}
}
