package sqlite

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/secretbox"
	"github.com/herald-webhooks/herald/storetest"
)

// openTest opens a store on path and closes it when t ends.
func openTest(t testing.TB, path string) *Store {
	t.Helper()
	return openTestConfig(t, Config{Path: path})
}

// openTestConfig opens a store with cfg and closes it when t ends.
func openTestConfig(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, cipherHarness(storetest.Harness{
		New: func(t *testing.T) herald.Store {
			return openTest(t, filepath.Join(t.TempDir(), "herald.db"))
		},
		Reopen: func(t *testing.T, s herald.Store) herald.Store {
			st := s.(*Store)
			path := st.path
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openTest(t, path)
		},
	}))
}

// TestStoreClaimOnCreate runs the conformance suite with fresh
// deliveries claimed on create and handed over in memory: the contract
// holds either way.
func TestStoreClaimOnCreate(t *testing.T) {
	open := func(t *testing.T, path string) *Store {
		return openTestConfig(t, Config{Path: path, ClaimOnCreate: true})
	}
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) herald.Store {
			return open(t, filepath.Join(t.TempDir(), "herald.db"))
		},
		Reopen: func(t *testing.T, s herald.Store) herald.Store {
			st := s.(*Store)
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, st.path)
		},
	})
}

func TestOpenRequiresPath(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
	if _, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "a?b.db")}); err == nil {
		t.Fatal("Open with '?' in the path succeeded")
	}
}

// pragma returns one pragma's value on db.
func pragma(t *testing.T, q querier, name string) string {
	t.Helper()
	var v string
	if err := q.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// writerPragma returns one pragma's value on the write connection.
func writerPragma(t *testing.T, s *Store, name string) string {
	t.Helper()
	var v string
	err := s.w.do(context.Background(), func(w *wtx) error {
		return w.queryRow("PRAGMA " + name).Scan(&v)
	})
	if err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "query_only": "0"} {
		if got := writerPragma(t, s, name); got != want {
			t.Errorf("writer: PRAGMA %s = %q, want %q", name, got, want)
		}
	}
	if got := writerPragma(t, s, "busy_timeout"); got == "0" {
		t.Error("writer: busy_timeout not set")
	}
	for name, want := range map[string]string{"journal_mode": "wal", "query_only": "1", "foreign_keys": "1"} {
		if got := pragma(t, s.rdb, name); got != want {
			t.Errorf("reader: PRAGMA %s = %q, want %q", name, got, want)
		}
	}
	if _, err := s.rdb.ExecContext(context.Background(), "DELETE FROM applications"); err == nil {
		t.Error("a read connection accepted a write")
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	all, err := loadMigrations()
	if err != nil || len(all) == 0 {
		t.Fatalf("loadMigrations: %d, %v", len(all), err)
	}
	ctx := context.Background()
	s := openTest(t, path)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, time.Now()), Name: "kept"}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		s = openTest(t, path)
		var n, maxVersion int
		if err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &maxVersion); err != nil {
			t.Fatal(err)
		}
		if n != len(all) || maxVersion != all[len(all)-1].version {
			t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, maxVersion, len(all), all[len(all)-1].version)
		}
		if _, err := s.ApplicationGet(ctx, app.ID); err != nil {
			t.Fatalf("data lost on reopen: %v", err)
		}
		s.Close()
	}
}

// cipherHarness adds to h the encryption tests' hooks.
func cipherHarness(h storetest.Harness) storetest.Harness {
	h.OpenCipher = func(t *testing.T, s herald.Store, c herald.SecretCipher, skip bool) (herald.Store, error) {
		st := s.(*Store)
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ns, err := Open(context.Background(), Config{Path: st.path, Cipher: c, SkipKeyCheck: skip})
		if err != nil {
			return s, err
		}
		t.Cleanup(func() { ns.Close() })
		return ns, nil
	}
	h.RawSecrets = func(t *testing.T, s herald.Store, endpointID string) string {
		var raw string
		err := s.(*Store).rdb.QueryRowContext(context.Background(), "SELECT secrets FROM endpoints WHERE id = ?", endpointID).Scan(&raw)
		if err != nil {
			t.Fatalf("read the secrets column: %v", err)
		}
		return raw
	}
	return h
}

// TestStoreEncrypted runs the conformance suite with endpoint secrets
// encrypted at rest: the contract holds either way.
func TestStoreEncrypted(t *testing.T) {
	key := bytes.Repeat([]byte{7}, secretbox.KeySize)
	c, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T, path string) *Store {
		return openTestConfig(t, Config{Path: path, Cipher: c})
	}
	storetest.Run(t, cipherHarness(storetest.Harness{
		Cipher: c,
		New: func(t *testing.T) herald.Store {
			return open(t, filepath.Join(t.TempDir(), "herald.db"))
		},
		Reopen: func(t *testing.T, s herald.Store) herald.Store {
			st := s.(*Store)
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, st.path)
		},
	}))
}
