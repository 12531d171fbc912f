package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const adminTokenFile = "admin-token"

// adminToken returns the configured admin token or, when none is set, the
// one stored in the data dir, generating, storing and printing it once on
// first start.
func adminToken(cfg Config, stdout io.Writer) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.DataDir, adminTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("admin token file %s is empty: delete it or set HERALD_ADMIN_TOKEN", path)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read admin token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	tok := "hrd_" + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	fmt.Fprintf(stdout, "Generated an admin token (kept in %s; shown only now):\n  %s\n", path, tok)
	return tok, nil
}

// lockDataDir takes an exclusive lock on the data dir so that two processes
// never share one embedded database. The lock dies with the process.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "herald.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another herald process", dir)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// checkWritable fails with a clear message when the data dir cannot be
// written, so that Herald stops at start instead of opening a database
// it cannot change: a read-only file system, missing permissions.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		why := "cannot be written"
		if errors.Is(err, syscall.EROFS) {
			why = "is on a read-only file system"
		}
		return fmt.Errorf("data dir %s %s (%v): Herald keeps its database there and must be able to write it; remount it read-write or choose another HERALD_DATA_DIR", dir, why, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
