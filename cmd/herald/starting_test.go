package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/testutil/pgserver"
	"github.com/herald-webhooks/herald/postgres"
	"github.com/jackc/pgx/v5"
)

// TestServeAnswersStartingWhileMigrating starts `herald serve` while
// another session holds PostgreSQL's migration lock, as a node migrating
// the schema would: the API listens at once, readiness and API calls
// answer 503 "starting" and the ping 204, until the lock is released and
// the server opens; then readiness answers 204.
func TestServeAnswersStartingWhileMigrating(t *testing.T) {
	pg := pgserver.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	runCtx, stop := context.WithCancel(context.Background())
	s.cancel = stop
	environ := []string{"HERALD_ADDR=" + addr, "HERALD_DATA_DIR=" + t.TempDir(), "HERALD_ADMIN_TOKEN=" + testToken,
		"HERALD_DATABASE_URL=" + pg.URL(), "HERALD_LOG_LEVEL=warn"}
	go func() { s.done <- run(runCtx, []string{"herald", "serve"}, environ, s.stdout, s.stderr) }()
	t.Cleanup(func() { s.Stop(t) })

	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 10*time.Second, "the API to listen", func() bool { code, _ := get("/api/v1/health/ping"); return code != 0 })
	for _, path := range []string{"/api/v1/health/ready", "/api/v1/app"} {
		if code, body := get(path); code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"starting"`) {
			t.Errorf("%s while migrations wait: %d %s, want 503 starting", path, code, body)
		}
	}
	if code, _ := get("/api/v1/health/ping"); code != http.StatusNoContent {
		t.Errorf("ping while migrations wait: %d", code)
	}
	if strings.Contains(s.stdout.String(), "herald listening") {
		t.Fatalf("the server reported itself started while the migration lock was held")
	}

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "readiness once migrated", func() bool { code, _ := get("/api/v1/health/ready"); return code == http.StatusNoContent })
	if code, body := get("/api/v1/app"); code != http.StatusOK {
		t.Errorf("API once open: %d %s", code, body)
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
