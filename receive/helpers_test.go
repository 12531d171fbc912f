package receive_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
	_ "modernc.org/sqlite"             // "sqlite" driver

	"github.com/herald-webhooks/herald/internal/testutil/pgtest"
	"github.com/herald-webhooks/herald/receive"
	"github.com/herald-webhooks/herald/signing"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signedRequest returns a POST to url signed with testSecret now.
func signedRequest(t *testing.T, url, msgID, body string) *http.Request {
	t.Helper()
	key, _ := signing.ParseKey(testSecret) // a valid constant
	now := time.Now()
	sig, _ := key.Sign(msgID, now, []byte(body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// response is a status and body.
type response struct {
	Status int
	Body   string
	Header http.Header
}

// do sends req and returns the answer (status 0 after an error, reported
// with t.Errorf so that do may run in any goroutine).
func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return response{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: string(b), Header: resp.Header}
}

// deliver posts one signed event to url.
func deliver(t *testing.T, url, msgID, body string) response {
	t.Helper()
	return do(t, signedRequest(t, url, msgID, body))
}

// newReceiver starts a real HTTP server running a Receiver for cfg (with
// the test secret's verifier unless cfg has one).
func newReceiver(t *testing.T, cfg receive.Config) (*receive.Receiver, *httptest.Server) {
	t.Helper()
	if cfg.Verifier == nil {
		v, err := signing.NewStandardVerifier(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifier = v
	}
	r, err := receive.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sqlBackend opens connections to one shared database for a test.
type sqlBackend struct {
	name    string
	dialect receive.Dialect
	table   string
	open    func(t *testing.T) *sql.DB
}

// store opens a new *sql.DB (as another process would) and returns a
// migrated store on the backend's table.
func (b sqlBackend) store(t *testing.T, cfg receive.SQLConfig) *receive.SQLStore {
	t.Helper()
	cfg.Dialect, cfg.Table = b.dialect, b.table
	s, err := receive.NewSQLStore(b.open(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// sqlBackends returns a SQLite file in t.TempDir() and, when configured,
// a unique table on the test PostgreSQL server.
func sqlBackends(t *testing.T) []sqlBackend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "receiver.db")
	out := []sqlBackend{{name: "sqlite", dialect: receive.SQLite, table: receive.DefaultTable, open: func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}}}
	url, ok := pgtest.Lookup(t)
	if !ok {
		t.Log("HERALD_TEST_POSTGRES_URL not set: PostgreSQL skipped")
		return out
	}
	table := "receive_test_" + randomHex(6)
	openPG := func(t *testing.T) *sql.DB {
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	admin := openPG(t)
	t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS " + table) })
	return append(out, sqlBackend{name: "postgres", dialect: receive.Postgres, table: table, open: openPG})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// verifier returns a verifier of testSecret.
func verifier(t *testing.T) *signing.StandardVerifier {
	t.Helper()
	v, err := signing.NewStandardVerifier(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
