package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminTokenGeneratedOnce proves a server started without an admin
// token makes one, stores it privately, prints it once and reuses it.
func TestAdminTokenGeneratedOnce(t *testing.T) {
	dir := t.TempDir()
	s := startServerIn(t, dir, "HERALD_ADMIN_TOKEN=")
	m := regexpToken.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no generated token printed:\n%s", s.stdout.String())
	}
	token := m[1]
	info, err := os.Stat(filepath.Join(dir, adminTokenFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v", err, info.Mode())
	}
	if r := s.callAs(t, token, "GET", "/api/v1/app", nil); r.Status != 200 {
		t.Fatalf("generated token rejected: %d %s", r.Status, r.Body)
	}
	if strings.Contains(s.stderr.String(), token) {
		t.Errorf("the token appears in the log")
	}
	s.Stop(t)

	s2 := startServerIn(t, dir, "HERALD_ADMIN_TOKEN=")
	if strings.Contains(s2.stdout.String(), "Generated") {
		t.Errorf("token generated again on restart")
	}
	if r := s2.callAs(t, token, "GET", "/api/v1/app", nil); r.Status != 200 {
		t.Errorf("stored token not reused: %d", r.Status)
	}
}

// TestDataDirLocked proves two processes cannot share one data dir.
func TestDataDirLocked(t *testing.T) {
	s := startServer(t)
	err := run(context.Background(), []string{"herald", "serve"}, []string{"HERALD_ADDR=127.0.0.1:0", "HERALD_DATA_DIR=" + s.DataDir, "HERALD_ADMIN_TOKEN=" + testToken}, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on the same data dir: %v", err)
	}
}

// TestRunRejectsBadConfig proves start-up stops on bad settings, naming
// each one.
func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), []string{"herald", "serve"}, []string{"HERALD_REQUEST_TIMEOUT=fast", "HERALD_BOGUS=1", "HERALD_DATA_DIR=" + t.TempDir()}, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "HERALD_REQUEST_TIMEOUT") || !strings.Contains(err.Error(), "HERALD_BOGUS") {
		t.Fatalf("run with bad config: %v", err)
	}
	if err := run(context.Background(), []string{"herald", "frobnicate"}, nil, &syncBuffer{}, &syncBuffer{}); err == nil {
		t.Fatal("unknown command accepted")
	}
}
