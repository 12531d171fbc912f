package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/sqlite"
)

// TestBackup checks that a backup of an open store holds what was written
// before it (the write-ahead log's content too), opens as a store, passes
// integrity_check, and is not written over unless asked to.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "A", CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "herald.db-wal")); err != nil {
		t.Fatalf("the test needs a write-ahead log: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := sqlite.Backup(ctx, filepath.Join(dir, "herald.db"), dst, false); err != nil {
		t.Fatal(err)
	}
	checkIntegrity(t, dst)
	cp, err := sqlite.Open(ctx, sqlite.Config{Path: dst})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.ApplicationGet(ctx, app.ID); err != nil {
		t.Errorf("the copy lacks the application: %v", err)
	}
	cp.Close()

	err = sqlite.Backup(ctx, filepath.Join(dir, "herald.db"), dst, false)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup over an existing file: %v, want an error", err)
	}
	if err := sqlite.Backup(ctx, filepath.Join(dir, "herald.db"), dst, true); err != nil {
		t.Errorf("backup with overwrite: %v", err)
	}
	if err := sqlite.Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db"), false); err == nil {
		t.Error("backup of a missing database succeeded")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".copy.db.tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check of %s: %q %v", path, res, err)
	}
}
