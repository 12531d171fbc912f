package receive_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/receive"
)

// TestMemoryBounds proves a full MemoryStore evicts its oldest completed
// record, refuses a new event with ErrStoreFull (503 over HTTP) while
// every record is in progress, and forgets completed records after the
// retention.
func TestMemoryBounds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := receive.NewMemoryStore(receive.MemoryConfig{MaxEntries: 3, Retention: time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	lease := now.Add(time.Minute)
	for i := range 3 {
		id := fmt.Sprintf("evt_%d", i)
		if res, err := s.Claim(ctx, id, "t", lease); err != nil || res != receive.Claimed {
			t.Fatalf("claim %s: %v %v", id, res, err)
		}
		if err := s.Complete(ctx, id); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	if res, _ := s.Claim(ctx, "evt_3", "t", lease); res != receive.Claimed || s.Len() != 3 {
		t.Fatalf("claim at capacity: %v, len %d", res, s.Len())
	}
	if res, _ := s.Claim(ctx, "evt_0", "t", lease); res != receive.Claimed {
		t.Errorf("the oldest completed record was not evicted: %v", res)
	}
	if res, _ := s.Claim(ctx, "evt_2", "t", lease); res != receive.Completed {
		t.Errorf("a newer completed record was evicted: %v", res)
	}
	if res, _ := s.Claim(ctx, "evt_4", "t", lease); res != receive.Claimed { // evicts evt_2, the last completed
		t.Fatalf("evt_4: %v", res)
	}
	if _, err := s.Claim(ctx, "evt_5", "t", lease); !errors.Is(err, receive.ErrStoreFull) {
		t.Errorf("claim with every record in progress: %v, want ErrStoreFull", err)
	}
	for _, id := range []string{"evt_0", "evt_3", "evt_4"} {
		s.Complete(ctx, id)
	}
	now = now.Add(2 * time.Hour)
	if res, _ := s.Claim(ctx, "evt_5", "t", lease); res != receive.Claimed || s.Len() != 1 {
		t.Errorf("after the retention: %v, len %d, want the expired records gone", res, s.Len())
	}

	full := receive.NewMemoryStore(receive.MemoryConfig{MaxEntries: 1})
	full.Claim(ctx, "busy", "t", time.Now().Add(time.Hour))
	_, srv := newReceiver(t, receive.Config{Store: full, Handler: func(context.Context, receive.Event) error { return nil }})
	if r := deliver(t, srv.URL, "msg_other", `{}`); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("full store over HTTP: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
}

// TestSQLCleanup proves Cleanup deletes only finished records past the
// retention, and Migrate can run again.
func TestSQLCleanup(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ctx := context.Background()
	for _, b := range sqlBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.store(t, receive.SQLConfig{Retention: time.Hour, Now: func() time.Time { return now }})
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			s.Claim(ctx, "old", "t", now.Add(time.Minute))
			s.Complete(ctx, "old")
			now = now.Add(30 * time.Minute)
			s.Claim(ctx, "newer", "t", now.Add(time.Minute))
			s.Complete(ctx, "newer")
			s.Claim(ctx, "running", "t", now.Add(time.Minute))
			now = now.Add(45 * time.Minute)
			if n, err := s.Cleanup(ctx); err != nil || n != 1 {
				t.Fatalf("Cleanup = %d, %v; want 1", n, err)
			}
			if res, _ := s.Claim(ctx, "newer", "x", now.Add(time.Minute)); res != receive.Completed {
				t.Errorf("newer: %v", res)
			}
			if res, _ := s.Claim(ctx, "old", "x", now.Add(time.Minute)); res != receive.Claimed {
				t.Errorf("old: %v", res)
			}
		})
	}
	if _, err := receive.NewSQLStore(nil, receive.SQLConfig{Dialect: receive.Postgres, Table: "x; DROP TABLE y"}); err == nil {
		t.Error("NewSQLStore accepted a bad table name")
	}
	if _, err := receive.NewSQLStore(nil, receive.SQLConfig{}); err == nil {
		t.Error("NewSQLStore accepted no dialect")
	}
}
