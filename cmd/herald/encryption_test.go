package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/secretbox"
	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// serveFails runs `herald serve` on dir with env (over startServerIn's
// defaults) and returns its error; the test fails if it starts serving.
func serveFails(t *testing.T, dir string, env ...string) error {
	t.Helper()
	environ := []string{"HERALD_ADDR=127.0.0.1:0", "HERALD_DATA_DIR=" + dir, "HERALD_ADMIN_TOKEN=" + testToken}
	environ = append(environ, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, []string{"herald", "serve"}, environ, &stdout, &stderr)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("herald serve started (%v); stdout: %s", err, stdout.String())
	}
	return err
}

// rotateKey runs `herald rotate-encryption-key args...` with environ.
func rotateKey(t *testing.T, environ []string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"herald", "rotate-encryption-key"}, args...), environ, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// rawSecretsSQLite returns every endpoint's secrets column as stored in
// the embedded database of dir.
func rawSecretsSQLite(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "herald.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return collectRaw(t, func() (rowsScanner, error) { return db.Query("SELECT coalesce(secrets, '') FROM endpoints") })
}

// rowsScanner is what collectRaw reads from *sql.Rows and pgx.Rows.
type rowsScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
}

func collectRaw(t *testing.T, query func() (rowsScanner, error)) string {
	t.Helper()
	rows, err := query()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(all, "\n")
}

// checkNoPlaintext fails if raw holds any of secrets (with or without
// their whsec_ prefix), or holds no encrypted value under keyID.
func checkNoPlaintext(t *testing.T, raw, keyID string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(raw, s) || strings.Contains(raw, strings.TrimPrefix(s, "whsec_")) {
			t.Fatalf("a plaintext secret is stored: %s", raw)
		}
	}
	if !strings.Contains(raw, "enc:v1:"+keyID+":") {
		t.Fatalf("no secret stored under key %s: %s", keyID, raw)
	}
}

// verifyDelivery checks that the last delivery rc received is signed with
// secret, with the reference Standard Webhooks library.
func verifyDelivery(t *testing.T, rc *receiver, msgID, secret string) {
	t.Helper()
	waitFor(t, 10*time.Second, "delivery of "+msgID, func() bool { return len(rc.byMsg(msgID)) > 0 })
	got := rc.byMsg(msgID)[0]
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("delivery %s is not signed with the expected secret: %v", msgID, err)
	}
}

func keyIDOf(t *testing.T, encoded string) string {
	t.Helper()
	k, err := secretbox.ParseKey(encoded)
	if err != nil {
		t.Fatal(err)
	}
	return secretbox.KeyID(k)
}

// TestEncryptionAtRestAndKeyRotation runs the whole life of an encryption
// key on the embedded store: secrets written with HERALD_ENCRYPTION_KEY are
// stored encrypted and sign deliveries; start-up refuses no key and a
// wrong key with a clear message; a new key with the old one in
// HERALD_ENCRYPTION_OLD_KEYS starts, rotate-encryption-key moves every
// secret (operational endpoints too) to it, and the new key alone then
// starts; a backup holds only ciphertext and serves with the key.
func TestEncryptionAtRestAndKeyRotation(t *testing.T) {
	keyA, keyB := secretbox.NewKey(), secretbox.NewKey()
	dir := t.TempDir()
	rc := newReceiver(t, nil)

	s := startServerIn(t, dir, "HERALD_ENCRYPTION_KEY="+keyA)
	app := s.createApp(t, "encrypted")
	const given = "whsec_QWxsVGhlU2VjcmV0c0FyZUVuY3J5cHRlZDEyMw=="
	epID, secret := s.createEndpoint(t, app, map[string]any{"url": rc.URL, "secret": given})
	if secret != given {
		t.Fatalf("GET secret = %q, want the secret given", secret)
	}
	s.must(t, 204, "POST", "/api/v1/app/"+app+"/endpoint/"+epID+"/secret/rotate", map[string]any{})
	rotated := str(s.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+epID+"/secret", nil), "key")
	op := s.must(t, 201, "POST", "/api/v1/operational-webhook/endpoint", map[string]any{"url": rc.URL})
	opSecret := str(s.must(t, 200, "GET", "/api/v1/operational-webhook/endpoint/"+str(op, "id")+"/secret", nil), "key")
	verifyDelivery(t, rc, s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 1}}), rotated)
	s.Stop(t)
	checkNoPlaintext(t, rawSecretsSQLite(t, dir), keyIDOf(t, keyA), given, rotated, opSecret)

	// No key, a wrong key, a malformed key: start-up fails and says why.
	if err := serveFails(t, dir); !strings.Contains(err.Error(), "no encryption key is set") {
		t.Fatalf("serve without a key: %v", err)
	}
	if err := serveFails(t, dir, "HERALD_ENCRYPTION_KEY="+keyB); !strings.Contains(err.Error(), "wrong encryption key") ||
		!strings.Contains(err.Error(), keyIDOf(t, keyA)) {
		t.Fatalf("serve with a wrong key: %v", err)
	}
	const badKey = "c2hvcnQta2V5LW5vdC0zMi1ieXRlcw=="
	err := serveFails(t, dir, "HERALD_ENCRYPTION_KEY="+badKey)
	if !strings.Contains(err.Error(), "HERALD_ENCRYPTION_KEY") || strings.Contains(err.Error(), badKey) {
		t.Fatalf("serve with a malformed key: %v (the key must not be repeated)", err)
	}

	// Rotation: the new key with the old one starts and reads every secret.
	both := []string{"HERALD_ENCRYPTION_KEY=" + keyB, "HERALD_ENCRYPTION_OLD_KEYS=" + keyA}
	s = startServerIn(t, dir, both...)
	if got := str(s.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+epID+"/secret", nil), "key"); got != rotated {
		t.Fatalf("secret read with the old key among the old keys: %q", got)
	}
	// The data dir is locked while serve runs.
	if out, err := rotateKey(t, append([]string{"HERALD_DATA_DIR=" + dir}, both...)); err == nil || !strings.Contains(err.Error(), "stop herald serve") {
		t.Fatalf("rotate-encryption-key while serve runs: %v\n%s", err, out)
	}
	s.Stop(t)
	out, err := rotateKey(t, append([]string{"HERALD_DATA_DIR=" + dir}, both...))
	if err != nil || !strings.Contains(out, "Re-encrypted the secrets of 2 endpoints") {
		t.Fatalf("rotate-encryption-key: %v\n%s", err, out)
	}
	raw := rawSecretsSQLite(t, dir)
	checkNoPlaintext(t, raw, keyIDOf(t, keyB), given, rotated, opSecret)
	if strings.Contains(raw, keyIDOf(t, keyA)) {
		t.Fatalf("a secret is still under the old key after rotation: %s", raw)
	}
	if err := serveFails(t, dir, "HERALD_ENCRYPTION_KEY="+keyA); !strings.Contains(err.Error(), "wrong encryption key") {
		t.Fatalf("serve with the retired key: %v", err)
	}

	// A backup holds only ciphertext and serves with the key.
	backup := filepath.Join(t.TempDir(), "herald.db")
	var bout, berr bytes.Buffer
	if err := run(context.Background(), []string{"herald", "backup", "--data-dir", dir, backup}, nil, &bout, &berr); err != nil {
		t.Fatalf("backup: %v\n%s", err, berr.String())
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(strings.TrimPrefix(rotated, "whsec_"))) {
		t.Fatal("the backup file holds a plaintext secret")
	}
	s = startServerIn(t, filepath.Dir(backup), "HERALD_ENCRYPTION_KEY="+keyB)
	verifyDelivery(t, rc, s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 2}}), rotated)
}

// TestEncryptionLostKey: when the key is lost, rotate-encryption-key with
// --allow-unreadable accepts a new key; deliveries to the endpoint whose
// secret is unreadable fail with a reason that says so, until its secret
// is rotated, after which they are signed with the new secret.
func TestEncryptionLostKey(t *testing.T) {
	lost, fresh := secretbox.NewKey(), secretbox.NewKey()
	dir := t.TempDir()
	rc := newReceiver(t, nil)
	s := startServerIn(t, dir, "HERALD_ENCRYPTION_KEY="+lost)
	app := s.createApp(t, "lost")
	epID, _ := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	s.Stop(t)

	env := []string{"HERALD_DATA_DIR=" + dir, "HERALD_ENCRYPTION_KEY=" + fresh}
	if out, err := rotateKey(t, env); err == nil || !strings.Contains(err.Error(), "--allow-unreadable") {
		t.Fatalf("rotate-encryption-key without the lost key: %v\n%s", err, out)
	}
	out, err := rotateKey(t, env, "--allow-unreadable")
	if err != nil || !strings.Contains(out, "1 endpoints hold secrets no key decrypts") {
		t.Fatalf("rotate-encryption-key --allow-unreadable: %v\n%s", err, out)
	}
	s = startServerIn(t, dir, "HERALD_ENCRYPTION_KEY="+fresh, "HERALD_RETRY_SCHEDULE=")
	msgID := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 1}})
	waitFor(t, 10*time.Second, "the failed attempt", func() bool {
		a := items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID, nil))
		return len(a) == 1 && strings.Contains(str(a[0], "response"), "stored encrypted with a key this server does not have")
	})
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests sent with an unreadable secret", n)
	}
	s.must(t, 204, "POST", "/api/v1/app/"+app+"/endpoint/"+epID+"/secret/rotate", map[string]any{"gracePeriodSeconds": 0})
	secret := str(s.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+epID+"/secret", nil), "key")
	verifyDelivery(t, rc, s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 2}}), secret)
}

// TestMigrateStoreCopiesEncryptedSecrets: migrate-store copies encrypted
// secrets as they are (it needs no key), with the key check: PostgreSQL
// then serves with the same key, and refuses to start without it.
func TestMigrateStoreCopiesEncryptedSecrets(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	key := secretbox.NewKey()
	dir := t.TempDir()
	rc := newReceiver(t, nil)
	s := startServerIn(t, dir, "HERALD_ENCRYPTION_KEY="+key)
	app := s.createApp(t, "moved")
	_, secret := s.createEndpoint(t, app, map[string]any{"url": rc.URL})
	s.Stop(t)

	pgEnv := []string{"HERALD_DATABASE_URL=" + url, "HERALD_DATABASE_SCHEMA=" + schema}
	if out, errOut, err := migrateStore(t, pgEnv, "--data-dir", dir); err != nil {
		t.Fatalf("migrate-store: %v\n%s\n%s", err, out, errOut)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	raw := collectRaw(t, func() (rowsScanner, error) {
		return conn.Query(context.Background(), "SELECT coalesce(secrets::text, '') FROM "+pgx.Identifier{schema, "endpoints"}.Sanitize())
	})
	checkNoPlaintext(t, raw, keyIDOf(t, key), secret)

	if err := serveFails(t, t.TempDir(), pgEnv...); !strings.Contains(err.Error(), "no encryption key is set") {
		t.Fatalf("serve on PostgreSQL without the key: %v", err)
	}
	pg := startServer(t, append(pgEnv, "HERALD_ENCRYPTION_KEY="+key)...)
	verifyDelivery(t, rc, pg.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{"n": 1}}), secret)
}
