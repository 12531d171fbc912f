package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/postgres"
	"github.com/herald-webhooks/herald/signing"
	"github.com/jackc/pgx/v5"
)

// migrateStore runs `herald migrate-store args...` with environ and
// returns what it printed.
func migrateStore(t *testing.T, environ []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, append([]string{"herald", "migrate-store"}, args...), environ, &out, &errOut)
	return out.String(), errOut.String(), err
}

// migrationSeed is what seedMigration made through the API.
type migrationSeed struct {
	apps, eventTypes []string
	endpoints        map[string][]string // by application
	messages         map[string][]string // by application
	flakyMsgs        []string            // messages pending for the flaky endpoint
	flakySecret      string              // the flaky endpoint's signing secret
	oldSecret        string              // the rotated endpoint's previous secret
	newSecret        string              // the rotated endpoint's current secret
	rotatedApp       string              // the application of the rotated endpoint
	portalToken      string              // an app-portal token for apps[0]
}

// seedMigration creates, through the API, applications, event types,
// endpoints with every setting (one with a rotated secret, one failing,
// one disabled), messages, an idempotent request, an app-portal token and
// a recovery task.
func seedMigration(t *testing.T, s *testServer, okURL, flakyURL string) migrationSeed {
	t.Helper()
	var d migrationSeed
	d.endpoints, d.messages = map[string][]string{}, map[string][]string{}
	acme := str(s.must(t, 201, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme",
		"throttleRate": 50, "metadata": map[string]string{"plan": "pro"}}), "id")
	globex := s.createApp(t, "Globex")
	d.apps, d.rotatedApp = []string{acme, globex}, acme
	s.must(t, 201, "POST", "/api/v1/event-type", `{"name":"invoice.paid","description":"An invoice was paid",
		"featureFlag":"beta","schemas":{"1":{"type":"object","properties":{"b":{},"a":{}}}}}`)
	s.must(t, 201, "POST", "/api/v1/event-type", map[string]any{"name": "user.created", "description": "A user signed up", "deprecated": true})
	s.must(t, 200, "PATCH", "/api/v1/event-type/user.created", map[string]any{"archived": true})
	d.eventTypes = []string{"invoice.paid", "user.created"}

	main, _ := s.createEndpoint(t, acme, map[string]any{"url": okURL + "/acme", "uid": "acme-main",
		"description": "main", "eventTypes": []string{"invoice.paid", "user.created"}, "channels": []string{"eu"},
		"throttleRate": 100, "metadata": map[string]string{"team": "billing"}})
	s.must(t, 204, "PUT", "/api/v1/app/"+acme+"/endpoint/"+main+"/headers",
		map[string]any{"headers": map[string]string{"X-Customer": "acme", "Authorization": "Bearer abc"}})
	d.oldSecret = str(s.must(t, 200, "GET", "/api/v1/app/"+acme+"/endpoint/"+main+"/secret", nil), "key")
	s.must(t, 204, "POST", "/api/v1/app/"+acme+"/endpoint/"+main+"/secret/rotate", map[string]any{"gracePeriodSeconds": 3600})
	d.newSecret = str(s.must(t, 200, "GET", "/api/v1/app/"+acme+"/endpoint/"+main+"/secret", nil), "key")
	flaky, flakySecret := s.createEndpoint(t, acme, map[string]any{"url": flakyURL + "/acme"})
	d.flakySecret = flakySecret
	off, _ := s.createEndpoint(t, globex, map[string]any{"url": okURL + "/off", "disabled": true})
	live, _ := s.createEndpoint(t, globex, map[string]any{"url": okURL + "/globex"})
	d.endpoints[acme], d.endpoints[globex] = []string{main, flaky}, []string{off, live}

	m1 := str(s.must(t, 202, "POST", "/api/v1/app/"+acme+"/msg",
		`{"eventType":"invoice.paid","channels":["eu"],"payload":{"amount": 10,  "currency":"EUR"}}`), "id")
	m2 := s.send(t, acme, map[string]any{"eventType": "user.created", "eventId": "evt-42", "payload": map[string]any{"user": 7}})
	m3 := s.send(t, globex, map[string]any{"eventType": "order.shipped", "payload": map[string]any{"order": 1}})
	m4 := str(s.must(t, 202, "POST", "/api/v1/app/"+acme+"/msg", map[string]any{"eventType": "invoice.paid",
		"channels": []string{"eu"}, "payload": map[string]any{"amount": 20}}, "idempotency-key", "idem-1"), "id")
	d.messages[acme], d.messages[globex] = []string{m1, m2, m4}, []string{m3}
	d.flakyMsgs = []string{m1, m2, m4}

	d.portalToken = str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+acme, map[string]any{}), "token")
	s.must(t, 202, "POST", "/api/v1/app/"+acme+"/endpoint/"+flaky+"/recover",
		map[string]any{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	return d
}

// paths lists the API reads whose answers must not change with the store.
func (d migrationSeed) paths() []string {
	out := []string{"/api/v1/app?limit=250", "/api/v1/event-type?include_archived=true"}
	for _, name := range d.eventTypes {
		out = append(out, "/api/v1/event-type/"+name)
	}
	for _, app := range d.apps {
		base := "/api/v1/app/" + app
		out = append(out, base, base+"/endpoint", base+"/msg")
		for _, ep := range d.endpoints[app] {
			e := base + "/endpoint/" + ep
			out = append(out, e, e+"/secret", e+"/headers", e+"/stats", e+"/msg", base+"/attempt/endpoint/"+ep)
		}
		for _, msg := range d.messages[app] {
			m := base + "/msg/" + msg
			out = append(out, m, m+"/endpoint", base+"/attempt/msg/"+msg)
		}
	}
	return out
}

// snapshotAPI reads each path with the admin token and returns the
// decoded answers.
func snapshotAPI(t *testing.T, s *testServer, paths []string) map[string]any {
	t.Helper()
	out := make(map[string]any, len(paths))
	for _, p := range paths {
		r := s.call(t, "GET", p, nil)
		var v any
		if err := json.Unmarshal(r.Body, &v); r.Status != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
		}
		out[p] = v
	}
	return out
}

// TestMigrateStoreMovesEverythingServeCreated runs serve on an embedded
// data dir, fills it through the API, copies it into PostgreSQL with
// migrate-store and runs serve there: every API read answers as before
// (applications, endpoints with their secrets, headers and filters, event
// types, messages, attempts, listings, stats), the app-portal token still
// works, the deliveries left pending for a failing receiver are delivered
// once it recovers, signed with the migrated secret, and the rotated
// endpoint still signs with its previous secret too.
func TestMigrateStoreMovesEverythingServeCreated(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	dir := t.TempDir()
	var healthy atomic.Bool
	ok := newReceiver(t, nil)
	flaky := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			fmt.Fprint(w, "fine now")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "down for maintenance")
	})
	// Retries come every 2 s, so that the failed deliveries are still
	// pending, and soon due, when the store moves.
	s := startServerIn(t, dir, "HERALD_RETRY_SCHEDULE=2s,2s,2s,2s")
	d := seedMigration(t, s, ok.URL, flaky.URL)
	// A poll consumer reads two of the three messages before the move.
	acme := d.apps[0]
	consumer := "/api/v1/app/" + acme + "/poller/" + d.endpoints[acme][1] + "/consumer/mover?limit=2"
	if got := s.pollOnce(t, testToken, consumer).ids; !slices.Equal(got, d.messages[acme][:2]) {
		t.Fatalf("consumer read %v before the move, want %v", got, d.messages[acme][:2])
	}
	waitFor(t, 10*time.Second, "deliveries and failed attempts recorded", func() bool {
		for app, msgs := range d.messages {
			for _, m := range msgs { // an attempt or more for each destination
				dests := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+m+"/endpoint", nil))
				if len(items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+m, nil))) < len(dests) {
					return false
				}
			}
		}
		return len(ok.requests()) == 3 && len(flaky.requests()) >= 3
	})
	s.Stop(t)
	// Read the embedded store's answers with no delivery engine running.
	embedded := startServerIn(t, dir, "HERALD_ROLE=api")
	before := snapshotAPI(t, embedded, d.paths())
	embedded.Stop(t)

	dbPath := filepath.Join(dir, "herald.db")
	sum := fileSum(t, dbPath)
	out, errOut, err := migrateStore(t, nil, "--data-dir", dir, "--database-url", url, "--database-schema", schema)
	if err != nil {
		t.Fatalf("migrate-store: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if fileSum(t, dbPath) != sum {
		t.Errorf("migrate-store changed %s; it must be left as a backup", dbPath)
	}
	t.Logf("migrate-store printed:\n%s", out)
	for _, want := range []string{"applications", "endpoints", "attempts", "total", "Verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate-store output lacks %q:\n%s", want, out)
		}
	}

	pgEnv := []string{"HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + schema}
	api := startServer(t, append(pgEnv, "HERALD_ROLE=api")...)
	after := snapshotAPI(t, api, d.paths())
	for _, p := range d.paths() {
		if !reflect.DeepEqual(before[p], after[p]) {
			t.Errorf("GET %s differs after the move:\n embedded:   %v\n postgresql: %v", p, before[p], after[p])
		}
	}
	// The consumer resumes where it left off.
	if got := api.pollOnce(t, testToken, consumer).ids; !slices.Equal(got, d.messages[acme][2:]) {
		t.Errorf("consumer read %v after the move, want %v", got, d.messages[acme][2:])
	}
	if r := api.callAs(t, d.portalToken, "GET", "/api/v1/app/"+d.apps[0]+"/endpoint", nil); r.Status != 200 {
		t.Errorf("app-portal token after the move: %d %s", r.Status, r.Body)
	}
	api.Stop(t)

	checkMovedDeliveries(t, pgEnv, d, ok, flaky, &healthy)
}

// checkMovedDeliveries runs serve on PostgreSQL with the receiver healthy:
// the pending deliveries arrive, signed with the migrated secret, and a
// new message to the rotated endpoint is signed with both its secrets.
func checkMovedDeliveries(t *testing.T, pgEnv []string, d migrationSeed, ok, flaky *receiver, healthy *atomic.Bool) {
	t.Helper()
	failed := len(flaky.requests())
	healthy.Store(true)
	node := startServer(t, pgEnv...)
	flakyKey, err := signing.ParseKey(d.flakySecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range d.flakyMsgs {
		waitFor(t, 15*time.Second, "pending delivery of "+m, func() bool { return len(flaky.byMsg(m)) > countBefore(flaky, m, failed) })
		got := flaky.byMsg(m)
		last := got[len(got)-1]
		if err := signing.Verify(flakyKey, m, last.Header.Get("webhook-timestamp"), last.Header.Get("webhook-signature"),
			last.Body, time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("delivery of %s after the move is not signed with the migrated secret: %v", m, err)
		}
	}
	app := d.rotatedApp
	msg := node.send(t, app, map[string]any{"eventType": "invoice.paid", "channels": []string{"eu"}, "payload": map[string]any{"n": 5}})
	waitFor(t, 10*time.Second, "new message delivered", func() bool { return len(ok.byMsg(msg)) == 1 })
	got := ok.byMsg(msg)[0]
	for _, secret := range []string{d.newSecret, d.oldSecret} {
		key, err := signing.ParseKey(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := signing.Verify(key, msg, got.Header.Get("webhook-timestamp"), got.Header.Get("webhook-signature"),
			got.Body, time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("new message is not signed with secret %.12s...: %v", secret, err)
		}
	}
}

// fileSum returns the SHA-256 of the file at path.
func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// countBefore returns how many of the first n requests rc received carry
// webhook-id msgID.
func countBefore(rc *receiver, msgID string, n int) int {
	c := 0
	for _, r := range rc.requests()[:n] {
		if r.Header.Get("webhook-id") == msgID {
			c++
		}
	}
	return c
}

// seedEmbedded makes a data dir whose embedded database holds one
// application.
func seedEmbedded(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := startServerIn(t, dir)
	s.createApp(t, "to-move")
	s.Stop(t)
	return dir
}

// TestMigrateStoreRefusesSchemaWithApplications proves migrate-store does
// not write into a schema that already holds applications: it names the
// schema, suggests a fresh one, and the schema keeps only its own data.
func TestMigrateStoreRefusesSchemaWithApplications(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	dir := seedEmbedded(t)
	pg := startServer(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+schema)
	existing := pg.createApp(t, "already-there")
	pg.Stop(t)

	_, _, err := migrateStore(t, []string{"HERALD_DATA_DIR=" + dir, "HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + schema})
	if err == nil || !strings.Contains(err.Error(), schema) || !strings.Contains(err.Error(), "applications") ||
		!strings.Contains(err.Error(), "--database-schema") {
		t.Fatalf("migrate-store = %v, want a refusal naming schema %s and suggesting a fresh one", err, schema)
	}
	pg = startServer(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+schema)
	apps := items(t, pg.must(t, 200, "GET", "/api/v1/app", nil))
	if len(apps) != 1 || str(apps[0], "id") != existing {
		t.Errorf("schema holds %v after the refusal, want only %s", apps, existing)
	}
}

// TestMigrateStoreRefusesWhileServeRuns proves migrate-store will not copy
// a data dir that a running herald serve holds, and touches PostgreSQL
// not at all then.
func TestMigrateStoreRefusesWhileServeRuns(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	dir := t.TempDir()
	s := startServerIn(t, dir)
	s.createApp(t, "busy")

	_, _, err := migrateStore(t, nil, "--data-dir", dir, "--database-url", url, "--database-schema", schema)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("migrate-store while serve runs = %v, want a refusal saying the data dir is in use", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var made bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&made); err != nil {
		t.Fatal(err)
	}
	if made {
		t.Errorf("schema %s was created although the copy was refused", schema)
	}
}

// TestMigrateStoreFailureLeavesNothing proves the copy is one transaction:
// when a table late in the copy cannot be written (the schema's tasks
// table already holds a row), no application or other row is left behind.
func TestMigrateStoreFailureLeavesNothing(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	dir := seedEmbedded(t)
	ctx := context.Background()
	dst, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "tasks"}.Sanitize()+
		" (id, kind, status, updated_at) VALUES ('qtask_x', 'k', 'running', now())"); err != nil {
		t.Fatal(err)
	}

	if _, _, err := migrateStore(t, nil, "--data-dir", dir, "--database-url", url, "--database-schema", schema); err == nil {
		t.Fatal("migrate-store into a schema with a task succeeded")
	}
	counts, err := dst.TableCounts(ctx, []string{"applications", "tasks"})
	if err != nil {
		t.Fatal(err)
	}
	if counts[0].Rows != 0 || counts[1].Rows != 1 {
		t.Errorf("after the failed copy: %v; want no application and only the task that was there", counts)
	}
}

// TestMigrateStoreRequiresDatabaseURL proves the command names the missing
// setting instead of guessing a database.
func TestMigrateStoreRequiresDatabaseURL(t *testing.T) {
	_, _, err := migrateStore(t, nil, "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("migrate-store without a URL = %v, want an error naming --database-url", err)
	}
}

// TestMigrateStoreRefusesDataDirWithoutDatabase proves a data dir with no
// embedded database is an error, and that none is created there.
func TestMigrateStoreRefusesDataDirWithoutDatabase(t *testing.T) {
	dir := t.TempDir()
	_, _, err := migrateStore(t, nil, "--data-dir", dir, "--database-url", "postgres://127.0.0.1:1/none")
	if err == nil || !strings.Contains(err.Error(), "herald.db") {
		t.Fatalf("migrate-store of an empty data dir = %v, want an error naming herald.db", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "herald.db")); !os.IsNotExist(err) {
		t.Errorf("herald.db exists after the refusal (%v)", err)
	}
}
