package pgserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/testutil/pgserver"
	"github.com/jackc/pgx/v5"
)

// TestRestartKeepsData stops the server in each mode and starts it again:
// it refuses connections while down, comes back on the same port, and
// keeps what was committed before the stop.
func TestRestartKeepsData(t *testing.T) {
	srv := pgserver.New(t)
	exec(t, srv.URL(), "CREATE TABLE kept (n int)")
	for i, mode := range []pgserver.Mode{pgserver.Fast, pgserver.Immediate} {
		exec(t, srv.URL(), "INSERT INTO kept VALUES ($1)", i)
		srv.Stop(t, mode)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if conn, err := pgx.Connect(ctx, srv.URL()); err == nil {
			conn.Close(ctx)
			t.Fatalf("mode %d: connected to a stopped server", mode)
		}
		cancel()
		srv.Stop(t, mode) // stopped already: nothing to do
		srv.Start(t)
		var n int
		queryRow(t, srv.URL(), "SELECT count(*) FROM kept", &n)
		if n != i+1 {
			t.Fatalf("mode %d: %d rows after the restart, want %d", mode, n, i+1)
		}
	}
}

func exec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

func queryRow(t *testing.T, url, sql string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatal(err)
	}
}

// TestPauseResume checks that a paused server answers nothing, that it
// answers again once resumed, and that a server left paused is still
// stopped promptly at cleanup.
func TestPauseResume(t *testing.T) {
	srv := pgserver.New(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	srv.Pause(t)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = conn.Ping(short)
	cancel()
	if err == nil {
		t.Fatal("a paused server answered")
	}
	srv.Resume(t)
	queryRow(t, srv.URL(), "SELECT 1", new(int))

	start := time.Now()
	t.Run("left paused", func(t *testing.T) { pgserver.New(t).Pause(t) })
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("a server left paused took %v to start, pause and stop", d)
	}
}
