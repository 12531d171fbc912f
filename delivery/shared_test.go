package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/internal/testutil/pgtest"
	"github.com/herald-webhooks/herald/postgres"
	"github.com/herald-webhooks/herald/signing"
	"github.com/jackc/pgx/v5"
)

// openShared opens a PostgreSQL store in a schema of the test's own
// (dropped at the end), skipping without a test server.
func openShared(t *testing.T) *postgres.Store {
	st, _ := openSharedWithOwners(t)
	return st
}

// openSharedWithOwners is openShared, with a function that lists the
// nodes owning endpoints in the store.
func openSharedWithOwners(t *testing.T) (*postgres.Store, func() []string) {
	t.Helper()
	url := pgtest.URL(t)
	ctx := context.Background()
	schema := pgtest.Schema(t, url, "herald_delivery") // dropped after the store closes
	st, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	owners := func() []string {
		rows, err := conn.Query(ctx, "SELECT node FROM "+pgx.Identifier{schema, "endpoint_owners"}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return nodes
	}
	return st, owners
}

// TestSharedEngineReleasesEndpointsItIsDoneWith checks that on a shared
// store an engine gives an endpoint back once it has no delivery of it in
// hand, so that other processes need not wait for its lease to end.
func TestSharedEngineReleasesEndpointsItIsDoneWith(t *testing.T) {
	st, schemaOwners := openSharedWithOwners(t)
	ctx := context.Background()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "shared", CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: rc.URL,
		Secrets: []herald.EndpointSecret{{Key: signing.NewSecret()}}, CreatedAt: now, UpdatedAt: now}
	if err := st.EndpointCreate(ctx, ep, 0); err != nil {
		t.Fatal(err)
	}
	eng := delivery.New(delivery.Config{
		Node:         "engine-a",
		PollInterval: 100 * time.Millisecond,
		HTTPClient:   egress.NewClient(egress.Config{Timeout: 5 * time.Second, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}),
	}, st)
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		eng.Stop(stopCtx)
	}()
	const n = 20
	for i := range n {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, time.Now()), AppID: app.ID, EventType: "a.b",
			Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), PayloadRetentionDays: 90, CreatedAt: now}
		if _, err := st.MessageCreate(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "every delivery", func() bool { return len(rc.got()) == n })
	// Its lease would keep the endpoint a minute; released, it goes at
	// the next poll.
	waitFor(t, 10*time.Second, "the endpoint released", func() bool { return len(schemaOwners()) == 0 })
}

// TestBinaryResponseIsRecordedOnPostgres checks that a response body with
// a NUL byte and invalid UTF-8 (which PostgreSQL text cannot hold) is
// recorded, with U+FFFD in their place, and the delivery is not sent
// again.
func TestBinaryResponseIsRecordedOnPostgres(t *testing.T) {
	st := openShared(t)
	ctx := context.Background()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "binary", CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte("bin\x00ary\xff")) })
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: rc.URL,
		Secrets: []herald.EndpointSecret{{Key: signing.NewSecret()}}, CreatedAt: now, UpdatedAt: now}
	if err := st.EndpointCreate(ctx, ep, 0); err != nil {
		t.Fatal(err)
	}
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "a.b",
		Payload: json.RawMessage(`{}`), PayloadRetentionDays: 90, CreatedAt: now}
	if _, err := st.MessageCreate(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	eng := delivery.New(delivery.Config{
		HTTPClient: egress.NewClient(egress.Config{Timeout: 5 * time.Second, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}),
	}, st)
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		eng.Stop(stopCtx)
	}()
	var attempts []herald.Attempt
	waitFor(t, 10*time.Second, "the attempt recorded", func() bool {
		p, err := st.AttemptList(ctx, app.ID, herald.AttemptFilter{MsgID: m.ID}, herald.ListParams{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		attempts = p.Items
		return len(attempts) > 0
	})
	if a := attempts[0]; a.Status != herald.StatusSuccess || a.Response != "bin\uFFFDary\uFFFD" {
		t.Fatalf("attempt status %v, response %q; want success, %q", a.Status, a.Response, "bin\uFFFDary\uFFFD")
	}
	if n := len(rc.got()); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
}
