package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/herald-webhooks/herald"
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

// endpointArgs are the encoded columns of ep after id and app_id.
func endpointArgs(c herald.SecretCodec, ep *herald.Endpoint) ([]any, error) {
	var secrets []secretJSON
	for _, sec := range ep.Secrets {
		key, err := c.Seal(sec.Key)
		if err != nil {
			return nil, fmt.Errorf("encrypt endpoint secret: %w", err)
		}
		secrets = append(secrets, secretJSON{Key: key, ExpiresAt: sec.ExpiresAt})
	}
	enc := []any{ep.EventTypes, ep.Channels, ep.Metadata, ep.Headers, secrets}
	for i, v := range enc {
		t, err := jsonText(v)
		if err != nil {
			return nil, err
		}
		enc[i] = t
	}
	return []any{nullStr(ep.UID), ep.URL, ep.Description, enc[0], enc[1], boolInt(ep.Disabled),
		intPtr(ep.ThrottleRate), enc[2], enc[3], enc[4]}, nil
}

// scanEndpoint scans endpointColumns, then extra, decrypting the secrets.
func scanEndpoint(c herald.SecretCodec, sc scanner, extra ...any) (herald.Endpoint, error) {
	var (
		e                                 herald.Endpoint
		uid                               sql.NullString
		types, chans, meta, hdrs, secrets sql.NullString
		throttle                          sql.NullInt64
		created, updated                  int64
	)
	dest := append([]any{&e.ID, &e.AppID, &uid, &e.URL, &e.Description, &types, &chans, &e.Disabled,
		&throttle, &meta, &hdrs, &secrets, &created, &updated}, extra...)
	err := sc.Scan(dest...)
	if err != nil {
		return e, err
	}
	e.UID = uid.String
	e.ThrottleRate = fromIntPtr(throttle)
	e.CreatedAt, e.UpdatedAt = fromTS(created), fromTS(updated)
	var stored []secretJSON
	for _, f := range []struct {
		col sql.NullString
		dst any
	}{{types, &e.EventTypes}, {chans, &e.Channels}, {meta, &e.Metadata}, {hdrs, &e.Headers}, {secrets, &stored}} {
		if err := fromJSON(f.col, f.dst); err != nil {
			return e, err
		}
	}
	for _, sec := range stored {
		e.Secrets = append(e.Secrets, herald.EndpointSecret{Key: c.Open(sec.Key), ExpiresAt: utcPtr(sec.ExpiresAt)})
	}
	return e, nil
}

// endpointScanner returns a row scanner of endpointColumns for collect.
func endpointScanner(c herald.SecretCodec) func(scanner) (herald.Endpoint, error) {
	return func(sc scanner) (herald.Endpoint, error) { return scanEndpoint(c, sc) }
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// EndpointCreate implements herald.EndpointStore.
func (s *Store) EndpointCreate(ctx context.Context, ep *herald.Endpoint, maxPerApp int) error {
	args, err := endpointArgs(s.codec, ep)
	if err != nil {
		return err
	}
	args = append([]any{ep.ID, ep.AppID}, append(args, ts(ep.CreatedAt), ts(ep.UpdatedAt))...)
	return s.write(ctx, "create endpoint", func(w *wtx) error {
		w.w.fanOut.forget(ep.AppID)
		if err := appExists(w.ctx, w, ep.AppID); err != nil {
			return err
		}
		if maxPerApp > 0 {
			var n int
			if err := w.queryRow("SELECT count(*) FROM endpoints WHERE app_id = ?", ep.AppID).Scan(&n); err != nil {
				return err
			}
			if n >= maxPerApp {
				return herald.ErrTooManyEndpoints(maxPerApp)
			}
		}
		_, err := w.exec("INSERT INTO endpoints ("+endpointColumns+") VALUES ("+placeholders(14)+")", args...)
		switch {
		case isUnique(err):
			return errEndpointUIDTaken
		case isForeignKey(err):
			return errAppNotFound
		}
		return err
	})
}

// EndpointGet implements herald.EndpointStore.
func (s *Store) EndpointGet(ctx context.Context, appID, key string) (*herald.Endpoint, error) {
	var ep herald.Endpoint
	err := s.read(ctx, "get endpoint", func(q querier) error {
		var err error
		ep, err = getEndpoint(ctx, q, s.codec, appID, key)
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

func getEndpoint(ctx context.Context, q querier, c herald.SecretCodec, appID, key string) (herald.Endpoint, error) {
	ep, err := scanEndpoint(c, q.QueryRowContext(ctx, "SELECT "+endpointColumns+
		" FROM endpoints WHERE app_id = ? AND (id = ? OR uid = ?) ORDER BY id = ? DESC LIMIT 1",
		appID, key, key, key))
	if err == sql.ErrNoRows {
		return ep, errEndpointNotFound
	}
	return ep, err
}

// EndpointUpdate implements herald.EndpointStore.
func (s *Store) EndpointUpdate(ctx context.Context, ep *herald.Endpoint) error {
	args, err := endpointArgs(s.codec, ep)
	if err != nil {
		return err
	}
	args = append(args, ts(ep.UpdatedAt), ep.ID, ep.AppID)
	err = s.write(ctx, "update endpoint", func(w *wtx) error {
		w.w.fanOut.forget(ep.AppID)
		var wasDisabled bool
		err := w.queryRow("SELECT disabled FROM endpoints WHERE id = ? AND app_id = ?", ep.ID, ep.AppID).Scan(&wasDisabled)
		if err == sql.ErrNoRows {
			return errEndpointNotFound
		}
		if err != nil {
			return err
		}
		res, err := w.exec(`UPDATE endpoints SET uid = ?, url = ?, description = ?, event_types = ?,
			channels = ?, disabled = ?, throttle_rate = ?, metadata = ?, headers = ?, secrets = ?,
			updated_at = ? WHERE id = ? AND app_id = ?`, args...)
		if isUnique(err) {
			return errEndpointUIDTaken
		}
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errEndpointNotFound)
		}
		return updateHealthState(w, ep, wasDisabled)
	})
	if err == nil {
		s.handoff.refresh(cloneEndpoint(ep))
	}
	return err
}

// EndpointDelete implements herald.EndpointStore. The endpoint's
// deliveries (in any state) go with it; its attempts stay as history.
func (s *Store) EndpointDelete(ctx context.Context, appID, id string) error {
	defer s.handoff.drop(func(j *herald.DeliveryJob) bool { return j.Endpoint.ID == id })
	return s.write(ctx, "delete endpoint", func(w *wtx) error {
		w.w.fanOut.forget(appID)
		s.due.set(id, never, false) // its pending deliveries go with it
		res, err := w.exec("DELETE FROM endpoints WHERE id = ? AND app_id = ?", id, appID)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil || n == 0 {
			return orNotFound(err, errEndpointNotFound)
		}
		return nil
	})
}

// EndpointList implements herald.EndpointStore. ENotFound if the
// application does not exist.
func (s *Store) EndpointList(ctx context.Context, appID string, p herald.ListParams) (herald.Page[herald.Endpoint], error) {
	p = listParams(p)
	cond, args, dir := pageBounds("id", p)
	var rows []herald.Endpoint
	err := s.read(ctx, "list endpoints", func(q querier) error {
		if err := appExists(ctx, q, appID); err != nil {
			return err
		}
		r, err := q.QueryContext(ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE app_id = ?"+cond+
			" ORDER BY id "+dir+" LIMIT ?", append(append([]any{appID}, args...), p.Limit+1)...)
		if err != nil {
			return err
		}
		rows, err = collect(r, endpointScanner(s.codec))
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
		rows, err := q.QueryContext(ctx, `SELECT d.status, COUNT(*) FROM deliveries d
			JOIN messages m ON m.id = d.msg_id
			WHERE d.endpoint_id = ? AND m.created_at >= ? AND m.created_at < ?
			GROUP BY d.status`, endpointID, sinceTS(since), untilTS(until))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status herald.MessageStatus
			var n int
			if err := rows.Scan(&status, &n); err != nil {
				return err
			}
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
		return rows.Err()
	})
	return st, err
}

// cloneEndpoint returns a copy of ep that shares nothing with it.
func cloneEndpoint(ep *herald.Endpoint) *herald.Endpoint {
	out := *ep
	out.EventTypes = slices.Clone(ep.EventTypes)
	out.Channels = slices.Clone(ep.Channels)
	out.Metadata = maps.Clone(ep.Metadata)
	out.Headers = maps.Clone(ep.Headers)
	out.Secrets = slices.Clone(ep.Secrets)
	if ep.ThrottleRate != nil {
		r := *ep.ThrottleRate
		out.ThrottleRate = &r
	}
	return &out
}
