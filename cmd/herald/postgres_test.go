package main

import (
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-webhooks/herald/internal/testutil/pgtest"
)

// postgresURL returns the test PostgreSQL server's URL, skipping the test
// without one (failing instead when HERALD_REQUIRE_POSTGRES=1, as in CI).
func postgresURL(t *testing.T) string { return pgtest.URL(t) }

// testSchema returns a schema name of the test's own, dropped when the
// test ends.
func testSchema(t *testing.T, url string) string { return pgtest.Schema(t, url, "herald_e2e") }

// TestServeOnPostgres runs `herald serve` with HERALD_DATABASE_URL: a
// message is delivered signed, and a second server with another data dir
// on the same database sees the same message and its attempt (the data is
// in PostgreSQL, not in the data dir).
func TestServeOnPostgres(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	env := []string{"HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + schema}
	s := startServer(t, env...)
	rc := newReceiver(t, nil)
	app := s.createApp(t, "pg")
	_, secret := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	msgID := str(s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", `{"eventType":"a.b","payload":{"n":1}}`), "id")
	waitFor(t, 10*time.Second, "delivery", func() bool { return len(rc.byMsg(msgID)) == 1 })
	got := rc.byMsg(msgID)[0]
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Errorf("reference library rejects the delivery: %v", err)
	}
	waitFor(t, 10*time.Second, "attempt recorded", func() bool {
		a := s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID, nil)
		return len(items(t, a)) == 1
	})
	s.Stop(t)

	other := startServer(t, env...) // a new, empty data dir
	if got := str(other.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+msgID, nil), "id"); got != msgID {
		t.Fatalf("second server reads message %q, want %q", got, msgID)
	}
	if a := other.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID, nil); len(items(t, a)) != 1 {
		t.Fatalf("second server sees %d attempts, want 1", len(items(t, a)))
	}
}
