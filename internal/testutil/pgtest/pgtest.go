// Package pgtest gives tests the PostgreSQL server that CI (and
// `eval "$(bash .ci/postgres.sh)"`) provides, and schemas of their own on
// it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment: the server's URL, and "1" when tests must not skip
// without it (as in CI).
const (
	URLEnv     = "HERALD_TEST_POSTGRES_URL"
	RequireEnv = "HERALD_REQUIRE_POSTGRES"
)

// Lookup returns the server's URL and true, or "" and false without one;
// it fails t instead when RequireEnv is "1".
func Lookup(t testing.TB) (string, bool) {
	t.Helper()
	url := os.Getenv(URLEnv)
	if url == "" && os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is not set but %s=1: these tests need a PostgreSQL server (eval \"$(bash .ci/postgres.sh)\")", URLEnv, RequireEnv)
	}
	return url, url != ""
}

// URL returns the server's URL, skipping t without one (failing when
// RequireEnv is "1").
func URL(t testing.TB) string {
	t.Helper()
	url, ok := Lookup(t)
	if !ok {
		t.Skipf("%s is not set: skipping PostgreSQL tests (eval \"$(bash .ci/postgres.sh)\" starts a server)", URLEnv)
	}
	return url
}

// Schema returns a fresh schema name starting with prefix (stores create
// it on open) and drops it, with everything in it, when t ends.
func Schema(t testing.TB, url, prefix string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := prefix + "_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return schema
}
