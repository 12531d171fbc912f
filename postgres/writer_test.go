package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// TestGroupCommit checks that concurrent writes share transactions and
// that a failing one (a reused eventId) is rolled back alone.
func TestGroupCommit(t *testing.T) {
	url := testURL(t)
	s, err := Open(context.Background(), Config{URL: url, Schema: newSchema(t, url), Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := newWorld(t, s, 2)
	const n = 300
	msgs := make([]*herald.Message, n)
	base := time.Now()
	for i := range msgs {
		msgs[i] = w.newMessage(base, i)
		if i%10 == 0 {
			msgs[i].EventID = "dup" // one of these wins, the others conflict
		}
	}
	before := s.WriteStats()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { _, errs[i] = s.MessageCreate(context.Background(), m, nil) })
	}
	wg.Wait()
	var won, conflicts int
	for i, err := range errs {
		switch {
		case err == nil && msgs[i].EventID == "dup":
			won++
		case err == nil:
		case herald.IsConflict(err) && msgs[i].EventID == "dup":
			conflicts++
		default:
			t.Fatalf("MessageCreate %d: %v", i, err)
		}
	}
	if won != 1 || conflicts != n/10-1 {
		t.Fatalf("eventId reused %d times: %d won, %d conflicts; want 1 and %d", n/10, won, conflicts, n/10-1)
	}
	for i, m := range msgs {
		if errs[i] != nil {
			continue
		}
		if _, err := s.MessageGet(context.Background(), w.app.ID, m.ID); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	stats := s.WriteStats()
	commits, ops := stats.Commits-before.Commits, stats.Ops-before.Ops
	t.Logf("%d operations in %d commits", ops, commits)
	if ops < uint64(n-conflicts) || commits >= ops {
		t.Fatalf("%d operations in %d commits: want fewer commits than operations", ops, commits)
	}
}

// TestWriteAfterClose checks that writes after Close fail with
// EUnavailable, and that Close is safe twice.
func TestWriteAfterClose(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	now := time.Now()
	err := s.ApplicationCreate(context.Background(), &herald.Application{ID: herald.NewID(herald.PrefixApplication, now),
		Name: "late", CreatedAt: now, UpdatedAt: now})
	if herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("write after Close: %v, want EUnavailable", err)
	}
	if err := s.Ping(context.Background()); herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("Ping after Close: %v, want EUnavailable", err)
	}
}
