package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

// taskOp returns a pipelined operation that inserts a task with id.
func taskOp(id string) *writeOp {
	p := &pipeOp{
		stmts: []stmt{{sql: "INSERT INTO tasks (id, kind, status, updated_at) VALUES ($1, 'k', 's', now())", args: []any{id}}},
		mapErr: func(err error) error {
			if isUnique(err) {
				return herald.Errorf(herald.EConflict, "task exists")
			}
			return err
		},
	}
	return &writeOp{fn: p.run, pipe: p}
}

// taskIDs returns the IDs of the stored tasks, sorted.
func taskIDs(t *testing.T, s *Store) []string {
	t.Helper()
	ids, err := queryAll(context.Background(), s.pool, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, "SELECT id FROM tasks ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestPipelinedBatchFailure checks that an operation failing inside a
// pipelined batch rolls the whole pipeline back (it is one transaction)
// and that the batch, run again, fails that operation alone.
func TestPipelinedBatchFailure(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	ctx := context.Background()
	if err := s.TaskCreate(ctx, &herald.Task{ID: "taken", Kind: "k", Status: "s", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ops := []*writeOp{taskOp("a"), taskOp("taken"), taskOp("b")}

	results, _, failed, err := s.w.runPipelined(ctx, ops)
	if err != nil || !failed || !herald.IsConflict(results[1]) || results[0] != nil {
		t.Fatalf("runPipelined: results %v, failed %v, err %v; want the second operation's conflict", results, failed, err)
	}
	if got := taskIDs(t, s); !slices.Equal(got, []string{"taken"}) {
		t.Fatalf("after a failed pipeline the tasks are %v, want only [taken]: it must roll back as one transaction", got)
	}

	results, _, err = s.w.commitBatch(ctx, ops)
	if err != nil || results[0] != nil || !herald.IsConflict(results[1]) || results[2] != nil {
		t.Fatalf("commitBatch: results %v, err %v; want only the second operation to fail", results, err)
	}
	if got := taskIDs(t, s); !slices.Equal(got, []string{"a", "b", "taken"}) {
		t.Fatalf("tasks %v, want [a b taken]", got)
	}
}

// TestPipelinedBatchBrokenRead checks that a result that cannot be read
// fails the whole batch instead of being taken for one operation's
// outcome: the server commits a pipeline whatever the client reads.
func TestPipelinedBatchBrokenRead(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	ctx := context.Background()
	bad := &pipeOp{stmts: []stmt{{sql: "SELECT 1", read: func(rows pgx.Rows) error {
		var s string
		rows.Next()
		return rows.Scan(&s, &s) // wrong number of columns
	}}}}
	ops := []*writeOp{taskOp("a"), {fn: bad.run, pipe: bad}}
	if _, _, _, err := s.w.runPipelined(ctx, ops); err == nil {
		t.Fatal("runPipelined with an unreadable result: no error")
	}
	// The store still works: the connection went back to the pool sound.
	if err := s.TaskCreate(ctx, &herald.Task{ID: "later", Kind: "k", Status: "s", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestFanOutBeyondHint checks that a message whose fan-out needs more
// delivery IDs than MessageCreate guessed runs again and gets every
// delivery, in endpoint ID order, and that the guess follows the
// application.
func TestFanOutBeyondHint(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	ctx := context.Background()
	w := newWorld(t, s, minFanOutHint+3)
	check := func(n int) {
		t.Helper()
		ds, err := s.MessageCreate(ctx, w.newMessage(time.Now(), 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != n {
			t.Fatalf("%d deliveries, want %d", len(ds), n)
		}
		ids := map[string]bool{}
		for i, d := range ds {
			if d.EndpointID != w.endpoints[i].ID || ids[d.ID] || d.ID == "" {
				t.Fatalf("delivery %d: %+v; want endpoint %s and a fresh ID", i, d, w.endpoints[i].ID)
			}
			ids[d.ID] = true
		}
		if got := s.fanOutHint(w.app.ID); got < n {
			t.Fatalf("fan-out hint %d after a message to %d endpoints", got, n)
		}
	}
	check(len(w.endpoints))
	for range 5 { // another node adds endpoints: the hint is stale
		w.addEndpoint(t)
	}
	check(len(w.endpoints))
	ds, err := s.MessageCreate(ctx, w.newMessage(time.Now(), 0), []string{w.endpoints[9].ID, w.endpoints[2].ID, "ep_other"})
	if err != nil || len(ds) != 2 || ds[0].EndpointID != w.endpoints[2].ID || ds[1].EndpointID != w.endpoints[9].ID {
		t.Fatalf("MessageCreate to two listed endpoints: %+v, %v", ds, err)
	}
}
