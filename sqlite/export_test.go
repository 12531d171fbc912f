package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// exported reads a whole export: each table's rows as column -> value.
func exported(t *testing.T, s *Store) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	err := s.Export(context.Background(), func(_ context.Context, tb herald.ExportTable) error {
		out[tb.Name] = []map[string]any{}
		for tb.Rows.Next() {
			vals, err := tb.Rows.Values()
			if err != nil {
				return err
			}
			row := map[string]any{}
			for i, c := range tb.Columns {
				row[c] = vals[i]
			}
			out[tb.Name] = append(out[tb.Name], row)
		}
		return tb.Rows.Err()
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return out
}

// TestExportClassifiesEveryTable fails when a migration adds a table that
// is neither exported nor listed as holding no user data, so that
// migrate-store never leaves a new table behind unnoticed.
func TestExportClassifiesEveryTable(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	rows, err := s.rdb.Query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
	if err != nil {
		t.Fatal(err)
	}
	names, err := collect(rows, func(sc scanner) (string, error) {
		var n string
		return n, sc.Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		isExported := slices.ContainsFunc(exportTables, func(e exportTable) bool { return e.name == name })
		if _, skipped := notExported[name]; isExported == skipped {
			t.Errorf("table %s: exported %v, listed as not exported %v: it must be exactly one", name, isExported, skipped)
		}
	}
}

// TestExportRefusesUnknownColumn proves that a column the export does not
// know (one a later migration would add) stops the export instead of
// being left behind.
func TestExportRefusesUnknownColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	s := openTest(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ALTER TABLE endpoints ADD COLUMN colour TEXT"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openTest(t, path)
	err = s.Export(context.Background(), func(_ context.Context, tb herald.ExportTable) error {
		for tb.Rows.Next() {
		}
		return tb.Rows.Err()
	})
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("Export = %v, want an error naming the column colour", err)
	}
}

// TestExportDecodesStoredValues proves each kind of column comes out as
// the store-neutral value its stored encoding means.
func TestExportDecodesStoredValues(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	now := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	expires := now.Add(time.Hour)
	seven := 7
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com/h",
		EventTypes: []string{"a.b", "c.d"}, Disabled: true, ThrottleRate: &seven, Headers: map[string]string{"X-A": "1"},
		Secrets:   []herald.EndpointSecret{{Key: "whsec_new"}, {Key: "whsec_old", ExpiresAt: &expires}},
		CreatedAt: now, UpdatedAt: now}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.EndpointCreate(ctx, ep, 0); err != nil {
		t.Fatal(err)
	}
	got := exported(t, s)["endpoints"][0]
	want := map[string]any{"id": ep.ID, "app_id": app.ID, "uid": nil, "url": ep.URL, "description": "",
		"event_types": []string{"a.b", "c.d"}, "channels": nil, "disabled": true, "throttle_rate": int64(7),
		"metadata": nil, "created_at": now, "updated_at": now}
	for col, w := range want {
		if g := got[col]; !equalValue(g, w) {
			t.Errorf("%s = %#v, want %#v", col, g, w)
		}
	}
	var secrets []struct {
		Key       string     `json:"key"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	raw, ok := got["secrets"].(json.RawMessage)
	if !ok || json.Unmarshal(raw, &secrets) != nil || len(secrets) != 2 || secrets[1].Key != "whsec_old" ||
		!secrets[1].ExpiresAt.Equal(expires) {
		t.Errorf("secrets = %#v, want a JSON document of both secrets", got["secrets"])
	}
	if h, ok := got["headers"].(json.RawMessage); !ok || string(h) != `{"X-A":"1"}` {
		t.Errorf("headers = %#v, want the stored JSON", got["headers"])
	}
}

// equalValue compares two exported values.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return a == b
}

// TestExportReleasesLeasedDeliveries proves a delivery being sent when
// the store stopped is exported pending and due at the export, with its
// attempt count, while other deliveries keep their state.
func TestExportReleasesLeasedDeliveries(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	now := time.Now().UTC()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com/h",
		CreatedAt: now, UpdatedAt: now}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.EndpointCreate(ctx, ep, 0); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour) // the second message is not due yet
	leasedDlv := sendMessage(t, s, app.ID, now)
	pendingDlv := sendMessage(t, s, app.ID, later)
	claim := herald.ClaimParams{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute)}
	jobs, err := s.DeliveryClaim(ctx, claim)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	err = s.DeliveryComplete(ctx, []herald.DeliveryResult{{Status: herald.StatusPending, Attempts: 2, NextAttemptAt: now,
		Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, now), DeliveryID: leasedDlv, AppID: app.ID,
			MsgID: jobs[0].Message.ID, EndpointID: ep.ID, Status: herald.StatusFail, CreatedAt: now}}})
	if err != nil {
		t.Fatal(err)
	}
	if jobs, err = s.DeliveryClaim(ctx, claim); err != nil || len(jobs) != 1 {
		t.Fatalf("second claim: %d jobs, %v", len(jobs), err)
	}

	before := time.Now()
	rows := exported(t, s)["deliveries"]
	after := time.Now()
	for _, d := range rows {
		switch d["id"] {
		case leasedDlv:
			next := d["next_attempt_at"].(time.Time)
			if d["status"] != int64(herald.StatusPending) || d["attempts"] != int64(2) ||
				next.Before(before.Truncate(time.Microsecond)) || next.After(after) || !d["lease_until"].(time.Time).IsZero() {
				t.Errorf("leased delivery exported as %v, want pending, 2 attempts, due at the export, no lease", d)
			}
		case pendingDlv:
			if d["status"] != int64(herald.StatusPending) || !d["next_attempt_at"].(time.Time).Equal(later) {
				t.Errorf("pending delivery exported as %v, want it unchanged", d)
			}
		default:
			t.Errorf("unexpected delivery %v", d)
		}
	}
}

// sendMessage stores a message created at (and so due at) created and
// returns the ID of its one delivery.
func sendMessage(t *testing.T, s *Store, appID string, created time.Time) string {
	t.Helper()
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, created), AppID: appID, EventType: "a.b",
		Payload: json.RawMessage(`{"n":1}`), PayloadRetentionDays: 30, CreatedAt: created}
	dlvs, err := s.MessageCreate(context.Background(), msg, nil)
	if err != nil || len(dlvs) != 1 {
		t.Fatalf("MessageCreate: %d deliveries, %v", len(dlvs), err)
	}
	return dlvs[0].ID
}
