package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// TestStorageFaultsAreUnavailable checks that SQLite's storage faults,
// produced for real, reach callers as EUnavailable (answered 503 by the
// API), matched by result code: a full database (SQLITE_FULL, here from a
// page count limit as from a full disk; cmd/herald's TestFullDisk fills a
// real one) and a read-only one (SQLITE_READONLY); and that the store
// writes again once the fault is gone.
func TestStorageFaultsAreUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	newApp := func(name string) error {
		return s.ApplicationCreate(ctx, &herald.Application{ID: herald.NewID("app", time.Now()), Name: name, Metadata: map[string]string{"pad": strings.Repeat("x", 8000)}})
	}

	// Full: no page may be added to the file.
	if err := s.write(ctx, "limit pages", func(w *wtx) error {
		var pages int
		if err := w.queryRow("PRAGMA page_count").Scan(&pages); err != nil {
			return err
		}
		_, err := w.exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = newApp("no room")
	if herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("write to a full database: %v (code %q), want %q", err, herald.ErrorCode(err), herald.EUnavailable)
	}
	t.Logf("full: %v", err)
	if err := s.write(ctx, "lift limit", func(w *wtx) error {
		_, err := w.exec("PRAGMA max_page_count = 1073741823")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := newApp("room again"); err != nil {
		t.Fatalf("write once space returned: %v", err)
	}

	// Read-only: a connection opened read-only, as on a read-only file
	// system.
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.ExecContext(ctx, "DELETE FROM applications")
	if err == nil {
		t.Fatal("a read-only connection wrote")
	}
	if mapped := mapErr(err); herald.ErrorCode(mapped) != herald.EUnavailable {
		t.Fatalf("read-only write: %v maps to %v, want %q", err, mapped, herald.EUnavailable)
	}
	t.Logf("read-only: %v", mapErr(err))
}
