package postgres

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/secretbox"
	"github.com/herald-webhooks/herald/internal/testutil/pgtest"
	"github.com/herald-webhooks/herald/storetest"
)

// The tests run against the PostgreSQL server named by this environment
// variable (see .ci/postgres.sh). Without it they skip, unless
// HERALD_REQUIRE_POSTGRES is "1".
const urlEnv = pgtest.URLEnv

// testURL returns the test server's URL, or skips (fails, when required)
// without one.
func testURL(t testing.TB) string { return pgtest.URL(t) }

// newSchema returns the name of a fresh schema for one test's stores (Open
// creates it) and drops it, with everything in it, when t ends.
func newSchema(t testing.TB, url string) string { return pgtest.Schema(t, url, "herald_test") }

// openTest opens a store on schema and closes it when t ends.
func openTest(t testing.TB, url, schema string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{URL: url, Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	url := testURL(t)
	storetest.Run(t, cipherHarness(url, storetest.Harness{
		New: func(t *testing.T) herald.Store {
			return openTest(t, url, newSchema(t, url))
		},
		Reopen: func(t *testing.T, s herald.Store) herald.Store {
			st := s.(*Store)
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openTest(t, url, st.cfg.Schema)
		},
	}))
}

// cipherHarness adds to h the encryption tests' hooks.
func cipherHarness(url string, h storetest.Harness) storetest.Harness {
	h.OpenCipher = func(t *testing.T, s herald.Store, c herald.SecretCipher, skip bool) (herald.Store, error) {
		st := s.(*Store)
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ns, err := Open(context.Background(), Config{URL: url, Schema: st.cfg.Schema, MaxConns: 8, Cipher: c, SkipKeyCheck: skip})
		if err != nil {
			return s, err
		}
		t.Cleanup(func() { ns.Close() })
		return ns, nil
	}
	h.RawSecrets = func(t *testing.T, s herald.Store, endpointID string) string {
		var raw string
		err := s.(*Store).pool.QueryRow(context.Background(), "SELECT secrets::text FROM endpoints WHERE id = $1", endpointID).Scan(&raw)
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
	url := testURL(t)
	c, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T, schema string) *Store {
		s, err := Open(context.Background(), Config{URL: url, Schema: schema, MaxConns: 8, Cipher: c})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.Run(t, cipherHarness(url, storetest.Harness{
		Cipher: c,
		New:    func(t *testing.T) herald.Store { return open(t, newSchema(t, url)) },
		Reopen: func(t *testing.T, s herald.Store) herald.Store {
			st := s.(*Store)
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, st.cfg.Schema)
		},
	}))
}

func TestOpenRequiresURL(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Fatal("Open without a URL succeeded")
	}
}

func TestNotifyChannel(t *testing.T) {
	if got := notifyChannel(""); got != DefaultNotifyChannel {
		t.Errorf("notifyChannel(\"\") = %q", got)
	}
	a, b := notifyChannel("tenant_a"), notifyChannel("tenant_b")
	if a == b || a == DefaultNotifyChannel {
		t.Errorf("schemas share a channel: %q, %q", a, b)
	}
	long := notifyChannel(string(make([]byte, 100)))
	if len(long) > maxChannelLen {
		t.Errorf("channel of a long schema has %d bytes, want at most %d", len(long), maxChannelLen)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	all, err := loadMigrations()
	if err != nil || len(all) == 0 {
		t.Fatalf("loadMigrations: %d, %v", len(all), err)
	}
	ctx := context.Background()
	s := openTest(t, url, schema)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, time.Now()), Name: "kept",
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		s = openTest(t, url, schema)
		checkMigrations(t, s, all)
		if _, err := s.ApplicationGet(ctx, app.ID); err != nil {
			t.Fatalf("data lost on reopen: %v", err)
		}
		s.Close()
	}
}

// checkMigrations checks that s's schema records every migration once.
func checkMigrations(t *testing.T, s *Store, all []migration) {
	t.Helper()
	var n, maxVersion int
	err := s.pool.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(all) || maxVersion != all[len(all)-1].version {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, maxVersion, len(all), all[len(all)-1].version)
	}
}
