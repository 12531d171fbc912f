package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// blockWriter submits an operation that holds the writer until release is
// closed, and returns once the writer is running it, so that operations
// submitted next queue up and are committed together afterwards.
func blockWriter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	started := make(chan struct{})
	unblock := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.w.do(context.Background(), func(w *wtx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() { close(unblock) }, errc
}

// waitQueued polls until n operations wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.w.ops) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d operations queued, want %d", len(s.w.ops), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func newApp(uid string) *herald.Application {
	now := time.Now().UTC()
	return &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), UID: uid, Name: "app " + uid, CreatedAt: now, UpdatedAt: now}
}

func TestGroupCommitMergesQueuedWrites(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	before := s.WriteStats()
	release, blocked := blockWriter(t, s)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.ApplicationCreate(context.Background(), newApp(fmt.Sprint("uid-", i))) })
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	after := s.WriteStats()
	if ops, commits := after.Ops-before.Ops, after.Commits-before.Commits; ops != n+1 || commits != 2 {
		t.Fatalf("%d ops in %d commits, want %d ops in 2 commits", ops, commits, n+1)
	}
	page, err := s.ApplicationList(context.Background(), herald.ListParams{Limit: herald.MaxListLimit})
	if err != nil || len(page.Items) != n {
		t.Fatalf("listed %d applications (%v), want %d", len(page.Items), err, n)
	}
}

func TestGroupCommitUnderLoad(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	const n = 500
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.ApplicationCreate(context.Background(), newApp(fmt.Sprint("u", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := s.WriteStats()
	if st.Ops != n || st.Commits*4 > st.Ops {
		t.Fatalf("%d ops in %d commits: want %d ops in under a quarter as many commits", st.Ops, st.Commits, n)
	}
	t.Logf("%d ops in %d commits", st.Ops, st.Commits)
}

func TestGroupCommitHonoursMaxBatch(t *testing.T) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "herald.db"), MaxBatch: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release, blocked := blockWriter(t, s)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := s.ApplicationCreate(context.Background(), newApp(fmt.Sprint("u", i))); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, 10) // the queue holds MaxBatch
	for i := range 25 {
		wg.Go(func() {
			if err := s.ApplicationCreate(context.Background(), newApp(fmt.Sprint("v", i))); err != nil {
				t.Error(err)
			}
		})
	}
	release()
	wg.Wait()
	<-blocked
	if st := s.WriteStats(); st.Ops != 36 || st.Commits < 1+4 {
		t.Fatalf("%d ops in %d commits, want 36 in at least 5 (batches of at most 10)", st.Ops, st.Commits)
	}
}

func TestFailingOpDoesNotFailItsBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	s := openTest(t, path)
	ctx := context.Background()
	before := s.WriteStats()
	release, blocked := blockWriter(t, s)

	type outcome struct {
		name string
		err  error
	}
	results := make(chan outcome, 10)
	submit := func(name string, fn func() error) {
		go func() { results <- outcome{name, fn()} }()
	}
	first, clash, other := newApp("same"), newApp("same"), newApp("other")
	submit("first", func() error { return s.ApplicationCreate(ctx, first) })
	waitQueued(t, s, 1)
	submit("clash", func() error { return s.ApplicationCreate(ctx, clash) })
	waitQueued(t, s, 2)
	submit("panic", func() error { return s.w.do(ctx, func(w *wtx) error { panic("boom") }) })
	submit("bad sql", func() error {
		return s.w.do(ctx, func(w *wtx) error {
			if _, err := w.exec("INSERT INTO applications (id, name, created_at, updated_at) VALUES ('app_half', 'x', 0, 0)"); err != nil {
				return err
			}
			_, err := w.exec("INSERT INTO no_such_table VALUES (1)")
			return err
		})
	})
	submit("other", func() error { return s.ApplicationCreate(ctx, other) })
	waitQueued(t, s, 5)
	release()
	<-blocked
	got := map[string]error{}
	for range 5 {
		o := <-results
		got[o.name] = o.err
	}
	if got["first"] != nil || got["other"] != nil {
		t.Fatalf("good writes failed: first %v, other %v", got["first"], got["other"])
	}
	if !herald.IsConflict(got["clash"]) {
		t.Fatalf("clash: %v, want a conflict", got["clash"])
	}
	if got["panic"] == nil || got["bad sql"] == nil {
		t.Fatalf("panic: %v, bad sql: %v; want errors", got["panic"], got["bad sql"])
	}
	if c := s.WriteStats().Commits - before.Commits; c != 2 {
		t.Fatalf("%d commits, want 2 (the blocker's and one for the batch)", c)
	}
	s.Close()
	s = openTest(t, path)
	for _, app := range []*herald.Application{first, other} {
		if _, err := s.ApplicationGet(ctx, app.ID); err != nil {
			t.Fatalf("%s lost: %v", app.UID, err)
		}
	}
	for _, id := range []string{clash.ID, "app_half"} {
		if _, err := s.ApplicationGet(ctx, id); !herald.IsNotFound(err) {
			t.Fatalf("failed write %s was kept: %v", id, err)
		}
	}
}

func TestCanceledQueuedWriteIsDropped(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	release, blocked := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	dropped, kept := newApp("dropped"), newApp("kept")
	errc := make(chan error, 2)
	go func() { errc <- s.ApplicationCreate(ctx, dropped) }()
	waitQueued(t, s, 1)
	go func() { errc <- s.ApplicationCreate(context.Background(), kept) }()
	waitQueued(t, s, 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled write returned %v, want context.Canceled", err)
	}
	release()
	<-blocked
	if err := <-errc; err != nil {
		t.Fatalf("write in the same batch failed: %v", err)
	}
	if _, err := s.ApplicationGet(context.Background(), dropped.ID); !herald.IsNotFound(err) {
		t.Fatalf("canceled write was applied: %v", err)
	}
	if _, err := s.ApplicationGet(context.Background(), kept.ID); err != nil {
		t.Fatal(err)
	}
}

func TestCloseFlushesQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	s := openTest(t, path)
	release, blocked := blockWriter(t, s)
	apps := []*herald.Application{newApp("a"), newApp("b"), newApp("c")}
	errc := make(chan error, len(apps))
	for _, app := range apps {
		go func() { errc <- s.ApplicationCreate(context.Background(), app) }()
	}
	waitQueued(t, s, len(apps))
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	<-blocked
	for range apps {
		if err := <-errc; err != nil {
			t.Fatalf("queued write failed on Close: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.ApplicationCreate(context.Background(), newApp("late")); herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("write after Close: %v, want EUnavailable", err)
	}
	if _, err := s.ApplicationGet(context.Background(), apps[0].ID); herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("read after Close: %v, want EUnavailable", err)
	}
	if err := s.Ping(context.Background()); herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("Ping after Close: %v, want EUnavailable", err)
	}
	s = openTest(t, path)
	for _, app := range apps {
		if _, err := s.ApplicationGet(context.Background(), app.ID); err != nil {
			t.Fatalf("flushed write lost: %v", err)
		}
	}
}

func TestWriterRenewsClosedConnection(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	ctx := context.Background()
	if err := s.ApplicationCreate(ctx, newApp("before")); err != nil {
		t.Fatal(err)
	}
	// The writer is idle: its last result was delivered, and the next
	// operation reaches it through the queue.
	if err := s.w.conn.Close(); err != nil {
		t.Fatal(err)
	}
	app := newApp("after")
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatalf("write after the connection closed: %v", err)
	}
	if _, err := s.ApplicationGet(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if got := writerPragma(t, s, "synchronous"); got != "2" {
		t.Fatalf("renewed connection has synchronous=%s, want 2", got)
	}
}
