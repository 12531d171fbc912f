package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/herald-webhooks/herald"
)

const tokenColumns = "id, hash, app_id, name, prefix, read_only, expires_at, created_at"

// TokenCreate implements herald.AuthStore. EConflict if the ID or hash is
// taken; ENotFound if the token's application does not exist.
func (s *Store) TokenCreate(ctx context.Context, t *herald.Token) error {
	return s.write(ctx, "create token", func(w *wtx) error {
		_, err := w.exec("INSERT INTO tokens ("+tokenColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Hash, nullStr(t.AppID), t.Name, t.Prefix, t.ReadOnly, tsPtr(t.ExpiresAt), ts(t.CreatedAt))
		switch {
		case isUnique(err):
			return herald.Errorf(herald.EConflict, "Token already exists")
		case isForeignKey(err):
			return errAppNotFound
		}
		return err
	})
}

// TokenGetByHash implements herald.AuthStore.
func (s *Store) TokenGetByHash(ctx context.Context, hash string) (*herald.Token, error) {
	return s.tokenGet(ctx, "hash", hash)
}

// TokenGet implements herald.AuthStore.
func (s *Store) TokenGet(ctx context.Context, id string) (*herald.Token, error) {
	return s.tokenGet(ctx, "id", id)
}

// tokenGet reads the token whose column (id or hash) holds value.
func (s *Store) tokenGet(ctx context.Context, column, value string) (*herald.Token, error) {
	var t *herald.Token
	err := s.read(ctx, "get token", func(q querier) error {
		var err error
		t, err = scanToken(q.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE "+column+" = ?", value))
		if err == sql.ErrNoRows {
			return herald.Errorf(herald.ENotFound, "Token not found")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TokenListAdmin implements herald.AuthStore.
func (s *Store) TokenListAdmin(ctx context.Context) ([]herald.Token, error) {
	var out []herald.Token
	err := s.read(ctx, "list admin tokens", func(q querier) error {
		rows, err := q.QueryContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE app_id IS NULL ORDER BY id")
		if err != nil {
			return err
		}
		out, err = collect(rows, scanTokenValue)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TokenDelete implements herald.AuthStore.
func (s *Store) TokenDelete(ctx context.Context, id string) error {
	return s.write(ctx, "delete token", func(w *wtx) error {
		_, err := w.exec("DELETE FROM tokens WHERE id = ?", id)
		return err
	})
}

// tokenPurgeBatch bounds one purge, so that it never holds the writer
// long.
const tokenPurgeBatch = 1000

// TokenPurgeExpired implements herald.AuthStore.
func (s *Store) TokenPurgeExpired(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "purge expired tokens", func(w *wtx) error {
		res, err := w.exec(`DELETE FROM tokens WHERE id IN (
			SELECT id FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`, ts(now), tokenPurgeBatch)
		if err != nil {
			return err
		}
		n, err = affected(res)
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}

// scanToken reads a row of tokenColumns.
func scanToken(row interface{ Scan(...any) error }) (*herald.Token, error) {
	var t herald.Token
	var appID sql.NullString
	var expires sql.NullInt64
	var created int64
	if err := row.Scan(&t.ID, &t.Hash, &appID, &t.Name, &t.Prefix, &t.ReadOnly, &expires, &created); err != nil {
		return nil, err
	}
	t.AppID, t.ExpiresAt, t.CreatedAt = appID.String, fromTSPtr(expires), fromTS(created)
	return &t, nil
}

// scanTokenValue is scanToken for collect.
func scanTokenValue(sc scanner) (herald.Token, error) {
	t, err := scanToken(sc)
	if err != nil {
		return herald.Token{}, err
	}
	return *t, nil
}
