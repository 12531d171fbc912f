package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sqlite"
)

// messageLoad posts messages to one application from a few goroutines
// until stopped or until max have been answered, recording the IDs of
// those accepted (202), in the order their answers arrived.
type messageLoad struct {
	url, appID string
	max        int
	mu         sync.Mutex
	accepted   []string
	failures   []string
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

func startLoad(url, appID string, workers, max int) *messageLoad {
	l := &messageLoad{url: url, appID: appID, max: max, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go l.run(w)
	}
	return l
}

func (l *messageLoad) run(worker int) {
	defer l.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		if l.count() >= l.max {
			return
		}
		id, err := l.post(fmt.Sprintf(`{"eventType":"load.tick","payload":{"worker":%d,"n":%d}}`, worker, i))
		l.mu.Lock()
		if err != nil {
			l.failures = append(l.failures, err.Error())
		} else {
			l.accepted = append(l.accepted, id)
		}
		l.mu.Unlock()
	}
}

func (l *messageLoad) post(body string) (string, error) {
	req, err := http.NewRequest("POST", l.url+"/api/v1/app/"+l.appID+"/msg", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 202 || out.ID == "" {
		return "", fmt.Errorf("post message: status %d, id %q, %v", resp.StatusCode, out.ID, err)
	}
	return out.ID, nil
}

// snapshot returns the IDs accepted so far.
func (l *messageLoad) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

func (l *messageLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted) + len(l.failures)
}

// finish stops the load and waits for its goroutines; safe twice.
func (l *messageLoad) finish() []string {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

// TestBackupUnderLoad takes a backup with `herald backup` while
// `herald serve` runs on the same data dir and messages are being posted
// and delivered: the server keeps accepting throughout, and the copy
// passes integrity_check, opens as a store and holds every message whose
// POST was answered before the backup started.
func TestBackupUnderLoad(t *testing.T) {
	srv := startServer(t)
	rcv := newReceiver(t, nil)
	appID := srv.createApp(t, "backed up")
	srv.createEndpoint(t, appID, map[string]any{"url": rcv.URL})

	const max = 600
	load := startLoad(srv.URL, appID, 3, max)
	defer load.finish()
	waitFor(t, 30*time.Second, "the load to get going", func() bool { return len(load.snapshot()) >= 50 })

	before := load.snapshot() // answered before the backup starts
	dst := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"herald", "backup", "--data-dir", srv.DataDir, dst}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("herald backup: %v\n%s", err, stderr.String())
	}
	// The server kept serving: more messages are accepted after it.
	after := len(load.snapshot())
	waitFor(t, 30*time.Second, "messages accepted after the backup", func() bool {
		return len(load.snapshot()) >= min(after+20, max) || load.count() >= max
	})
	if failures := load.finish(); len(failures) > 0 {
		t.Fatalf("%d posts failed during the backup, first: %s", len(failures), failures[0])
	}
	if !strings.Contains(stdout.String(), "Backed up") {
		t.Errorf("backup output: %q", stdout.String())
	}

	checkSQLiteIntegrity(t, dst)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: dst})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer st.Close()
	for _, id := range before {
		if _, err := st.MessageGet(context.Background(), appID, id); err != nil {
			t.Fatalf("message %s, accepted before the backup, is not in it: %v", id, err)
		}
	}
	st.Close()
	t.Logf("%d messages accepted before the backup, all in it; %d accepted by the end", len(before), len(load.snapshot()))

	// Restored as the README says: a server on a data dir holding the
	// backup as herald.db serves its messages.
	restored := t.TempDir()
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "herald.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	srv2 := startServerIn(t, restored)
	srv2.must(t, 200, "GET", "/api/v1/app/"+appID+"/msg/"+before[len(before)-1], nil)
}

// TestBackupRefusals checks the clear errors: an existing FILE without
// --force (left as it was), no FILE, no database, and a PostgreSQL setup.
func TestBackupRefusals(t *testing.T) {
	srv := startServer(t)
	srv.createApp(t, "one")
	dst := filepath.Join(t.TempDir(), "existing.db")
	if err := os.WriteFile(dst, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := func(environ []string, args ...string) error {
		var out bytes.Buffer
		return run(context.Background(), append([]string{"herald", "backup"}, args...), environ, &out, &out)
	}
	wantErr := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one saying %q", err, want)
		}
	}
	wantErr(backup(nil, "--data-dir", srv.DataDir, dst), "already exists")
	if b, _ := os.ReadFile(dst); string(b) != "keep me" {
		t.Errorf("an existing file was changed without --force")
	}
	// Flags may follow FILE.
	if err := backup(nil, "--data-dir", srv.DataDir, dst, "--force"); err != nil {
		t.Errorf("with --force: %v", err)
	}
	checkSQLiteIntegrity(t, dst)
	wantErr(backup([]string{"HERALD_DATA_DIR=" + srv.DataDir}), "give one FILE")
	wantErr(backup(nil, "--data-dir", t.TempDir(), filepath.Join(t.TempDir(), "x.db")), "no embedded database")
	wantErr(backup([]string{"HERALD_DATABASE_URL=postgres://u@127.0.0.1:1/db"}, filepath.Join(t.TempDir(), "x.db")), "pg_dump")
}

func checkSQLiteIntegrity(t *testing.T, path string) {
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
