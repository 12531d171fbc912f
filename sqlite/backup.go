package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database file at path to dst,
// while a server may be using it: the copy is one read transaction
// (VACUUM INTO) over a connection of its own, so it holds every
// transaction committed before it began, those still in the write-ahead
// log included, and it never blocks the server's writer. It takes no lock
// on the data dir and applies no migration.
//
// The copy is written to a temporary file next to dst, checked
// (PRAGMA quick_check), synced, then moved into place: dst is either
// absent or a complete copy. An existing dst is an error unless overwrite.
func Backup(ctx context.Context, path, dst string, overwrite bool) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: database: %w", err)
	}
	if _, err := os.Stat(dst); err == nil && !overwrite {
		return fmt.Errorf("backup: %s already exists (use --force to replace it)", dst)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // once moved into place, it is gone already
	if err := vacuumInto(ctx, path, tmpPath); err != nil {
		return err
	}
	if err := checkCopy(ctx, tmpPath); err != nil {
		return err
	}
	return moveInto(tmpPath, dst, overwrite)
}

// vacuumInto copies the database at path into the empty file tmpPath.
func vacuumInto(ctx context.Context, path, tmpPath string) error {
	// Not a read connection of the store's: query_only refuses VACUUM
	// INTO. This one only reads the source; it writes only to tmpPath.
	db, err := sql.Open("sqlite", path+"?"+url.Values{"_pragma": {fmt.Sprintf("busy_timeout(%d)", busyTimeoutMs)}}.Encode())
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmpPath); err != nil {
		return fmt.Errorf("backup: copy %s: %w", path, err)
	}
	return nil
}

// checkCopy runs PRAGMA quick_check on the copy and syncs it to disk.
func checkCopy(ctx context.Context, tmpPath string) error {
	db, err := sql.Open("sqlite", dsn(tmpPath, false))
	if err != nil {
		return fmt.Errorf("backup: check the copy: %w", err)
	}
	var result string
	err = db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&result)
	db.Close()
	if err != nil {
		return fmt.Errorf("backup: check the copy: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("backup: the copy failed its check: %s", result)
	}
	f, err := os.OpenFile(tmpPath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backup: sync the copy: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: sync the copy: %w", err)
	}
	return nil
}

// moveInto puts the finished copy at dst: a hard link, which fails if
// dst appeared meanwhile, unless overwrite, then a rename. The directory
// is synced so that the new name survives a crash.
func moveInto(tmpPath, dst string, overwrite bool) error {
	var err error
	if overwrite {
		err = os.Rename(tmpPath, dst)
	} else {
		err = os.Link(tmpPath, dst)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: %s already exists (use --force to replace it)", dst)
		}
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	dir, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return fmt.Errorf("backup: sync %s: %w", filepath.Dir(dst), err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", filepath.Dir(dst), err)
	}
	return nil
}
