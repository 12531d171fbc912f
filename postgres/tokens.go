package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

const tokenColumns = "id, hash, app_id, name, prefix, read_only, expires_at, created_at"

// TokenCreate implements herald.AuthStore. EConflict if the ID or hash is
// taken; ENotFound if the token's application does not exist.
func (s *Store) TokenCreate(ctx context.Context, t *herald.Token) error {
	return s.write(ctx, "create token", func(w *wtx) error {
		_, err := w.exec("INSERT INTO tokens ("+tokenColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			t.ID, t.Hash, nullStr(t.AppID), t.Name, t.Prefix, t.ReadOnly, tsPtr(t.ExpiresAt), t.CreatedAt)
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
		t, err = scanToken(q.QueryRow(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE "+column+" = $1", value))
		if errors.Is(err, pgx.ErrNoRows) {
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
		var err error
		out, err = queryAll(ctx, q, scanTokenValue, "SELECT "+tokenColumns+" FROM tokens WHERE app_id IS NULL ORDER BY id")
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
		_, err := w.exec("DELETE FROM tokens WHERE id = $1", id)
		return err
	})
}

// tokenPurgeBatch bounds one purge, so that it never holds rows long.
const tokenPurgeBatch = 1000

// TokenPurgeExpired implements herald.AuthStore.
func (s *Store) TokenPurgeExpired(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, "purge expired tokens", func(w *wtx) error {
		tag, err := w.exec(`DELETE FROM tokens WHERE id IN (
			SELECT id FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)`, now, tokenPurgeBatch)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		// The operation may still be running: its results are not read.
		return 0, err
	}
	return n, nil
}

// scanToken reads a row of tokenColumns.
func scanToken(row pgx.Row) (*herald.Token, error) {
	var t herald.Token
	var appID *string
	var expires *time.Time
	if err := row.Scan(&t.ID, &t.Hash, &appID, &t.Name, &t.Prefix, &t.ReadOnly, &expires, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.AppID, t.ExpiresAt, t.CreatedAt = fromNullStr(appID), fromTSPtr(expires), fromTS(t.CreatedAt)
	return &t, nil
}

// scanTokenValue is scanToken for queryAll.
func scanTokenValue(sc scanner) (herald.Token, error) {
	t, err := scanToken(sc)
	if err != nil {
		return herald.Token{}, err
	}
	return *t, nil
}
