package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// TestUpgradeKeepsQueuedDeliveries builds a database at schema version 2
// with a queued delivery, opens it (applying the later migrations) and
// checks that the delivery is still queued and claimable.
func TestUpgradeKeepsQueuedDeliveries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for _, m := range all[:2] {
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			t.Fatal(err)
		}
		db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, ?, 0)", m.version, m.name)
	}
	now := time.Now().UnixNano()
	for _, q := range []string{
		"INSERT INTO applications (id, name, metadata, created_at, updated_at) VALUES ('app_1', 'a', '{}', 0, 0)",
		"INSERT INTO endpoints (id, app_id, url, description, disabled, metadata, headers, secrets, created_at, updated_at) VALUES ('ep_1', 'app_1', 'https://e.com', '', 0, '{}', '{}', '[{\"Key\":\"whsec_QUJDRA==\"}]', 0, 0)",
		"INSERT INTO messages (id, app_id, event_type, payload, payload_retention_days, created_at) VALUES ('msg_1', 'app_1', 'a.b', '{}', 90, 0)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO deliveries VALUES ('dlv_1', 'app_1', 'msg_1', 'ep_1', 1, 0, ?, 0, 0, 0, 0)`, now); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatalf("open after upgrade: %v", err)
	}
	defer st.Close()
	var ddl string
	st.rdb.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE name = 'deliveries'").Scan(&ddl)
	if !strings.Contains(ddl, "WITHOUT ROWID") {
		t.Errorf("deliveries not rebuilt: %s", ddl)
	}
	jobs, err := st.DeliveryClaim(ctx, herald.ClaimParams{Now: time.Now().Add(time.Second), Limit: 5, LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil || len(jobs) != 1 || jobs[0].Delivery.ID != "dlv_1" || jobs[0].Endpoint.ID != "ep_1" {
		t.Fatalf("claim after upgrade: %v, %+v", err, jobs)
	}
}
