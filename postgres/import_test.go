package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// fixedExport is a herald.Exporter of rows given in the test.
type fixedExport []fixedTable

// fixedTable is one table of a fixedExport.
type fixedTable struct {
	name    string
	columns []string
	rows    [][]any
}

// Export implements herald.Exporter.
func (e fixedExport) Export(ctx context.Context, fn func(context.Context, herald.ExportTable) error) error {
	for _, t := range e {
		if err := fn(ctx, herald.ExportTable{Name: t.name, Columns: t.columns, Rows: &fixedRows{rows: t.rows, i: -1}}); err != nil {
			return err
		}
	}
	return nil
}

// fixedRows implements herald.ExportRows over a slice.
type fixedRows struct {
	rows [][]any
	i    int
}

func (r *fixedRows) Next() bool             { r.i++; return r.i < len(r.rows) }
func (r *fixedRows) Values() ([]any, error) { return r.rows[r.i], nil }
func (r *fixedRows) Err() error             { return nil }

var (
	importAt  = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	appCols   = []string{"id", "uid", "name", "throttle_rate", "metadata", "created_at", "updated_at"}
	appRow    = []any{"app_1", nil, "one\x00two", int64(5), json.RawMessage(`{"k":"v"}`), importAt, importAt}
	epCols    = []string{"id", "app_id", "uid", "url", "description", "event_types", "channels", "disabled", "throttle_rate", "metadata", "headers", "secrets", "created_at", "updated_at"}
	epSecrets = json.RawMessage(`[{"key":"whsec_new"},{"key":"whsec_old","expires_at":"2025-01-02T04:04:05.000006Z"}]`)
	epRow     = []any{"ep_1", "app_1", "ep-uid", "https://example.com/h", "d", []string{"a.b"}, nil, true, nil, nil,
		json.RawMessage(`{"X-A":"1"}`), epSecrets, importAt, importAt}
)

// TestImportConvertsValuesByColumnType proves exported values land as the
// store's own writes would: lists as arrays, JSON as jsonb, booleans, a
// zero time as NULL in a nullable column and as the zero time in a NOT
// NULL one, and text with the NUL bytes PostgreSQL cannot hold replaced.
func TestImportConvertsValuesByColumnType(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	ctx := context.Background()
	src := fixedExport{
		{"applications", appCols, [][]any{appRow}},
		{"endpoints", epCols, [][]any{epRow}},
		{"messages", []string{"id", "app_id", "event_id", "event_type", "channels", "payload", "payload_retention_days", "created_at",
			"deliver_at", "payload_expires_at"},
			[][]any{{"msg_1", "app_1", nil, "a.b", nil, []byte(`{"n": 1}`), int64(30), importAt, time.Time{}, importAt}}},
		{"deliveries", []string{"id", "app_id", "msg_id", "endpoint_id", "status", "attempts", "next_attempt_at", "lease_until", "trigger_type", "created_at", "updated_at"},
			[][]any{{"dlv_1", "app_1", "msg_1", "ep_1", int64(herald.StatusSuccess), int64(1), time.Time{}, time.Time{}, int64(0), importAt, importAt}}},
	}
	counts, err := s.Import(ctx, src)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(counts) != 4 || counts[1] != (herald.TableCount{Table: "endpoints", Rows: 1}) {
		t.Errorf("Import counts = %v", counts)
	}
	ep, err := s.EndpointGet(ctx, "app_1", "ep-uid")
	if err != nil {
		t.Fatal(err)
	}
	expires := importAt.Add(time.Hour)
	if ep.URL != "https://example.com/h" || !ep.Disabled || len(ep.EventTypes) != 1 || ep.Channels != nil ||
		ep.Headers["X-A"] != "1" || len(ep.Secrets) != 2 || ep.Secrets[0].Key != "whsec_new" ||
		!ep.Secrets[1].ExpiresAt.Equal(expires) || !ep.CreatedAt.Equal(importAt) {
		t.Errorf("endpoint read back as %+v", ep)
	}
	if app, err := s.ApplicationGet(ctx, "app_1"); err != nil || app.Name != "one\uFFFDtwo" {
		t.Errorf("application read back as %+v, %v; want the NUL byte of its name replaced", app, err)
	}
	msg, err := s.MessageGet(ctx, "app_1", "msg_1")
	if err != nil || string(msg.Payload) != `{"n": 1}` || msg.DeliverAt != nil || !msg.PayloadExpiresAt.Equal(importAt) {
		t.Errorf("message read back as %+v, %v; want the payload byte for byte, no deliverAt, its payload expiry", msg, err)
	}
	var leaseNull bool
	var next time.Time
	if err := s.pool.QueryRow(ctx, "SELECT lease_until IS NULL, next_attempt_at FROM deliveries").Scan(&leaseNull, &next); err != nil {
		t.Fatal(err)
	}
	if !leaseNull || !next.IsZero() {
		t.Errorf("delivery lease_until NULL %v, next_attempt_at %v; want NULL and the zero time", leaseNull, next)
	}
}

// TestImportRefusesSchemaWithData proves a second import into the same
// schema fails with EConflict naming the schema, and adds nothing.
func TestImportRefusesSchemaWithData(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	s := openTest(t, url, schema)
	ctx := context.Background()
	src := fixedExport{{"applications", appCols, [][]any{appRow}}}
	if _, err := s.Import(ctx, src); err != nil {
		t.Fatalf("first Import: %v", err)
	}
	other := fixedExport{{"applications", appCols, [][]any{{"app_2", nil, "two", nil, nil, importAt, importAt}}}}
	_, err := s.Import(ctx, other)
	if !herald.IsConflict(err) || !strings.Contains(herald.ErrorMessage(err), schema) {
		t.Fatalf("second Import = %v, want EConflict naming schema %s", err, schema)
	}
	if counts, err := s.TableCounts(ctx, []string{"applications"}); err != nil || counts[0].Rows != 1 {
		t.Errorf("applications after the refused import: %v, %v; want 1", counts, err)
	}
}

// TestImportFailureLeavesNothing proves that a table failing to import
// rolls back the tables copied before it.
func TestImportFailureLeavesNothing(t *testing.T) {
	url := testURL(t)
	s := openTest(t, url, newSchema(t, url))
	ctx := context.Background()
	bad := append([]any(nil), epRow...)
	bad[7] = "yes" // disabled is a boolean
	src := fixedExport{
		{"applications", appCols, [][]any{appRow}},
		{"endpoints", epCols, [][]any{bad}},
	}
	_, err := s.Import(ctx, src)
	if err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("Import = %v, want an error naming column disabled", err)
	}
	if counts, err := s.TableCounts(ctx, []string{"applications", "endpoints"}); err != nil ||
		counts[0].Rows != 0 || counts[1].Rows != 0 {
		t.Errorf("after the failed import: %v, %v; want no rows", counts, err)
	}
	_, err = s.Import(ctx, fixedExport{{"applications", []string{"id", "colour"}, [][]any{{"app_3", "red"}}}})
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("Import of an unknown column = %v, want an error naming it", err)
	}
}
