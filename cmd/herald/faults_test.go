package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of sizeKiB on a fresh directory and unmounts
// it when the test ends (after the servers started later have stopped).
// It skips the test where mounting is not permitted (not root, or a
// container without the capability); CI runs as root.
func mountTmpfs(t *testing.T, sizeKiB int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dk,mode=0700", sizeKiB), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs (needs root and CAP_SYS_ADMIN) to fake a full or read-only disk: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// remount changes the mount options of the tmpfs at dir ("ro", "rw").
func remount(dir, opt string) error {
	out, err := exec.Command("mount", "-o", "remount,"+opt, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("remount %s %s: %v: %s", dir, opt, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fillDisk writes a filler file into dir until the file system is full,
// and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for size := len(chunk); size > 0; {
		if _, err := f.Write(chunk[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill disk: %v", err)
			}
			size /= 2 // fill the last blocks too
		}
	}
	return path
}

// heldReceiver is a receiver whose answers can be held back, so that
// attempts are in flight at a chosen moment.
type heldReceiver struct {
	*receiver
	mu      sync.Mutex
	release chan struct{} // nil: answer at once
	held    int
}

func newHeldReceiver(t *testing.T) *heldReceiver {
	h := &heldReceiver{}
	h.receiver = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		release := h.release
		if release != nil {
			h.held++
		}
		h.mu.Unlock()
		if release != nil {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return h
}

// hold makes the receiver hold its answers until the returned function is
// called.
func (h *heldReceiver) hold() (release func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.release, h.held = ch, 0
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.release = nil
		h.mu.Unlock()
		close(ch)
	}
}

func (h *heldReceiver) holding() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// deliveredCounts returns how many requests the receiver got per message.
func deliveredCounts(rc *receiver) map[string]int {
	got := map[string]int{}
	for _, r := range rc.requests() {
		got[r.Header.Get("webhook-id")]++
	}
	return got
}

// waitDelivered waits until every message in ids reached the receiver.
func waitDelivered(t *testing.T, rc *receiver, ids []string, timeout time.Duration) {
	t.Helper()
	waitForDesc(t, timeout, fmt.Sprintf("%d messages to be delivered", len(ids)), func() bool {
		got := deliveredCounts(rc)
		for _, id := range ids {
			if got[id] == 0 {
				return false
			}
		}
		return true
	}, func() string {
		got, missing := deliveredCounts(rc), 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		return fmt.Sprintf("%d not delivered", missing)
	})
}

// check503 fails unless r is a 503 with Svix's error body and a
// Retry-After of at least a second.
func check503(t *testing.T, what string, r apiResponse) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s: status %d, want 503: %s", what, r.Status, r.Body)
	}
	m := r.JSON(t)
	if str(m, "code") != "service_unavailable" || str(m, "detail") == "" {
		t.Errorf("%s: 503 body %s, want Svix's {code, detail}", what, r.Body)
	}
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q, want a number of seconds", what, r.Header.Get("Retry-After"))
	}
}

// msgBody is a message of about 1 KiB, so that a few fill a small disk.
func msgBody(tag string, i int) map[string]any {
	return map[string]any{"eventType": "fault.test", "payload": map[string]any{"tag": tag, "i": i, "pad": strings.Repeat("x", 1000)}}
}

// TestFullDisk runs `herald serve` on a small tmpfs and fills it while
// deliveries are in flight: message creation answers 503 with the error
// body and Retry-After (no 2xx for a message that was not stored), reads
// keep working, the process keeps running; the attempts that were in
// flight keep their results (the completer retries them) and, once space
// returns, Herald recovers by itself: new messages are accepted and every
// message accepted before, during and after is delivered, the in-flight
// ones exactly once, with their attempts recorded.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 16<<10)
	rc := newHeldReceiver(t)
	s := startServerIn(t, dir)
	appID := s.createApp(t, "full")
	s.createEndpoint(t, appID, map[string]any{"url": rc.URL})

	var accepted []string
	for i := range 20 {
		accepted = append(accepted, s.send(t, appID, msgBody("before", i)))
	}
	waitDelivered(t, rc.receiver, accepted, 30*time.Second)

	// Attempts in flight when the disk fills up.
	release := rc.hold()
	var inFlight []string
	for i := range 10 {
		inFlight = append(inFlight, s.send(t, appID, msgBody("in-flight", i)))
	}
	waitFor(t, 30*time.Second, "10 attempts in flight", func() bool { return rc.holding() == 10 })
	filler := fillDisk(t, dir)

	// Writes fail: creation answers 503 (once whatever space SQLite's
	// files still had is used up), never 2xx for a message not stored.
	var refused apiResponse
	for i := 0; refused.Status == 0; i++ {
		if i == 2000 {
			t.Fatalf("2000 messages accepted on a full disk")
		}
		r := s.call(t, "POST", "/api/v1/app/"+appID+"/msg", msgBody("full", i))
		switch r.Status {
		case http.StatusAccepted:
			accepted = append(accepted, str(r.JSON(t), "id"))
		case http.StatusServiceUnavailable:
			refused = r
		default:
			t.Fatalf("create on a full disk: status %d: %s", r.Status, r.Body)
		}
	}
	check503(t, "create on a full disk", refused)
	check503(t, "create again", s.call(t, "POST", "/api/v1/app/"+appID+"/msg", msgBody("full", -1)))
	check503(t, "create an application", s.call(t, "POST", "/api/v1/app", map[string]any{"name": "no room"}))
	t.Logf("full disk: %d messages accepted before the first 503: %s", len(accepted)-20, refused.Body)

	// The held attempts succeed now; their results cannot be written yet:
	// the completer keeps them and tries again (each try a failed commit).
	commitErrors := func() float64 { return sumOf(scrape(t, s.URL+"/metrics"), "herald_store_commit_errors_total", nil) }
	failedBefore := commitErrors()
	release()
	waitDelivered(t, rc.receiver, inFlight, 10*time.Second)
	waitFor(t, 30*time.Second, "the completer to fail to write the results and try again", func() bool { return commitErrors() >= failedBefore+3 })
	for _, id := range inFlight {
		if atts := items(t, s.must(t, 200, "GET", "/api/v1/app/"+appID+"/attempt/msg/"+id, nil)); len(atts) != 0 {
			t.Fatalf("an attempt of %s was recorded on a full disk: %v", id, atts)
		}
	}

	// Reads keep working; the process is alive.
	s.must(t, 200, "GET", "/api/v1/app/"+appID, nil)
	s.must(t, 200, "GET", "/api/v1/app/"+appID+"/msg/"+accepted[0], nil)
	s.must(t, 200, "GET", "/api/v1/app/"+appID+"/msg?limit=5", nil)
	s.must(t, 204, "GET", "/api/v1/health/ping", nil)
	check503(t, "still full", s.call(t, "POST", "/api/v1/app/"+appID+"/msg", msgBody("full", -2)))

	// Space returns: Herald recovers without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var after string
	waitFor(t, 30*time.Second, "message creation to succeed again", func() bool {
		r := s.call(t, "POST", "/api/v1/app/"+appID+"/msg", msgBody("after", 0))
		if r.Status == http.StatusAccepted {
			after = str(r.JSON(t), "id")
		}
		return after != ""
	})
	accepted = append(accepted, after)
	all := append(append([]string(nil), accepted...), inFlight...)
	waitDelivered(t, rc.receiver, all, 45*time.Second)

	// The in-flight attempts' results were kept and written once space
	// returned: each message shows its successful attempt, and none was
	// sent twice.
	for _, id := range inFlight {
		waitFor(t, 30*time.Second, "the in-flight attempt of "+id+" to be recorded", func() bool {
			atts := items(t, s.must(t, 200, "GET", "/api/v1/app/"+appID+"/attempt/msg/"+id, nil))
			return len(atts) > 0 && atts[0]["status"] == float64(0)
		})
	}
	counts := deliveredCounts(rc.receiver)
	known := map[string]bool{}
	for _, id := range all {
		known[id] = true
	}
	for id := range counts {
		if !known[id] {
			t.Errorf("message %s was delivered but never accepted: a refused message was stored after all", id)
		}
	}
	for _, id := range inFlight {
		if counts[id] != 1 {
			t.Errorf("in-flight message %s delivered %d times, want once (its result was lost and it was sent again)", id, counts[id])
		}
	}

	// Checkpoints resume: the WAL's content moves into the database file
	// and the WAL is reused from its start instead of growing.
	walBefore := fileSize(t, filepath.Join(dir, "herald.db-wal"))
	for i := range 400 {
		s.send(t, appID, msgBody("checkpoint", i))
	}
	db, wal := fileSize(t, filepath.Join(dir, "herald.db")), fileSize(t, filepath.Join(dir, "herald.db-wal"))
	t.Logf("after recovery: herald.db %d KiB, WAL %d KiB (%d KiB before the 400 messages)", db>>10, wal>>10, walBefore>>10)
	if db < 256<<10 {
		t.Errorf("herald.db is %d KiB after 400 more messages: the WAL was never checkpointed", db>>10)
	}
	if wal > 8<<20 {
		t.Errorf("the WAL is %d KiB: it grows instead of being checkpointed and reused (about 4 MiB)", wal>>10)
	}
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// serveOnce runs `herald serve` on dir and returns run's error, for a
// start expected to fail (the test fails if it has not within 20s).
func serveOnce(t *testing.T, dir string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	environ := []string{"HERALD_ADDR=127.0.0.1:0", "HERALD_DATA_DIR=" + dir, "HERALD_ADMIN_TOKEN=" + testToken, "HERALD_LOG_LEVEL=warn"}
	var stdout, stderr syncBuffer
	err := run(ctx, []string{"herald", "serve"}, environ, &stdout, &stderr)
	if ctx.Err() != nil {
		t.Fatalf("serve on %s did not stop by itself within 20s (err %v); stdout: %s", dir, err, stdout.String())
	}
	return err
}

// TestReadOnlyDataDir checks `herald serve` on a data dir whose file
// system is read-only. Linux refuses to make a file system read-only
// while a process holds files on it open for writing (mount answers
// "busy"), as Herald's database files are: a running Herald can only see
// its disk turn read-only through a kernel forcing it after I/O errors,
// which the test cannot cause; such writes fail with SQLITE_READONLY or
// SQLITE_IOERR, which the store maps to 503 like a full disk (see the
// sqlite package's TestStorageFaultsAreUnavailable). Should the remount
// succeed, the test checks the 503s and the recovery. What it checks
// always: Herald refuses to start on a read-only data dir, empty or
// holding a database, with a message saying so; and once the data dir is
// writable again it starts and delivers the messages accepted before,
// including those whose attempts were in flight when it stopped.
func TestReadOnlyDataDir(t *testing.T) {
	dir := mountTmpfs(t, 16<<10)
	if err := remount(dir, "ro"); err != nil {
		t.Skipf("cannot remount a tmpfs read-only: %v", err)
	}
	checkRefused := func(when string) {
		t.Helper()
		err := serveOnce(t, dir)
		if err == nil || !strings.Contains(err.Error(), "data dir "+dir+" is on a read-only file system") {
			t.Fatalf("start on a read-only data dir (%s): err %v, want a message naming the dir and saying it is read-only", when, err)
		}
		t.Logf("start on a read-only data dir (%s): %v", when, err)
	}
	checkRefused("empty")
	if err := remount(dir, "rw"); err != nil {
		t.Fatal(err)
	}

	rc := newHeldReceiver(t)
	s := startServerIn(t, dir)
	appID := s.createApp(t, "readonly")
	s.createEndpoint(t, appID, map[string]any{"url": rc.URL})
	var delivered, pending []string
	for i := range 5 {
		delivered = append(delivered, s.send(t, appID, msgBody("delivered", i)))
	}
	waitDelivered(t, rc.receiver, delivered, 30*time.Second)
	release := rc.hold()
	for i := range 5 {
		pending = append(pending, s.send(t, appID, msgBody("pending", i)))
	}
	waitFor(t, 30*time.Second, "5 attempts in flight", func() bool { return rc.holding() == 5 })

	// While Herald runs, Linux does not let the disk turn read-only; if a
	// kernel ever does, writes must answer 503 and reads still work, until
	// it is writable again.
	if err := remount(dir, "ro"); err != nil {
		t.Logf("remount read-only under a running Herald: %v", err)
	} else {
		check503(t, "create on a read-only disk", s.call(t, "POST", "/api/v1/app/"+appID+"/msg", msgBody("ro", 0)))
		s.must(t, 200, "GET", "/api/v1/app/"+appID+"/msg/"+delivered[0], nil)
		if err := remount(dir, "rw"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "creation to succeed once writable", func() bool {
			return s.call(t, "POST", "/api/v1/app/"+appID+"/msg", msgBody("rw", 0)).Status == http.StatusAccepted
		})
	}
	s.Stop(t)
	release()

	if err := remount(dir, "ro"); err != nil {
		t.Fatal(err)
	}
	checkRefused("holding a database")
	if err := remount(dir, "rw"); err != nil {
		t.Fatal(err)
	}
	s = startServerIn(t, dir)
	waitDelivered(t, rc.receiver, pending, 30*time.Second)
	s.send(t, appID, msgBody("after", 0))
}
