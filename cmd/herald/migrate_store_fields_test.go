package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/postgres"
	"github.com/herald-webhooks/herald/sqlite"
)

// storedObjects are objects with every field set, written to the embedded
// store and expected back from PostgreSQL.
type storedObjects struct {
	app           herald.Application
	ep, off       herald.Endpoint
	et            herald.EventType
	msg, expunged herald.Message
	attempt       herald.Attempt
	adminTok      herald.Token
	appTok        herald.Token
	idem          herald.IdempotentResponse
	task          herald.Task
}

// newStoredObjects returns the objects, with times at microsecond
// precision (PostgreSQL's).
func newStoredObjects() *storedObjects {
	at := time.Date(2025, 6, 7, 8, 9, 10, 123456000, time.UTC)
	expires := at.Add(time.Hour)
	deliverAt := at.Add(2 * time.Hour)
	rate, epRate := 50, 10
	o := &storedObjects{}
	o.app = herald.Application{ID: herald.NewID(herald.PrefixApplication, at), UID: "acme", Name: "Acme",
		ThrottleRate: &rate, Metadata: map[string]string{"plan": "pro"}, CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	o.ep = herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, at), AppID: o.app.ID, UID: "main",
		URL: "https://hooks.example.com/in?x=1", Description: "main", EventTypes: []string{"invoice.paid"},
		Channels: []string{"eu", "us"}, ThrottleRate: &epRate, Metadata: map[string]string{"team": "billing"},
		Headers: map[string]string{"X-Customer": "acme"},
		Secrets: []herald.EndpointSecret{{Key: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"},
			{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ExpiresAt: &expires}},
		CreatedAt: at, UpdatedAt: at}
	o.off = herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, at.Add(time.Millisecond)), AppID: o.app.ID,
		URL: "https://hooks.example.com/off", Disabled: true,
		Secrets: []herald.EndpointSecret{{Key: "whsec_8aHVD5nhHcb0Ph6CoXYdYnAidw2HXHSy"}}, CreatedAt: at, UpdatedAt: at}
	o.et = herald.EventType{Name: "invoice.paid", Description: "paid", Archived: true, Deprecated: true,
		FeatureFlag: "beta", Schemas: json.RawMessage(`{"1":{"type":"object"}}`), CreatedAt: at, UpdatedAt: at}
	o.msg = herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: o.app.ID, EventID: "evt-1",
		EventType: "invoice.paid", Channels: []string{"eu"}, Payload: json.RawMessage(`{"a": 1,  "b":[true]}`),
		PayloadRetentionDays: 90, PayloadExpiresAt: at.Add(time.Hour), DeliverAt: &deliverAt, CreatedAt: at}
	o.expunged = herald.Message{ID: herald.NewID(herald.PrefixMessage, at.Add(time.Millisecond)), AppID: o.app.ID,
		EventType: "other", Payload: json.RawMessage(`{}`), PayloadRetentionDays: 30,
		PayloadExpiresAt: at.Add(30 * 24 * time.Hour), CreatedAt: at}
	o.attempt = herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, at), AppID: o.app.ID, MsgID: o.msg.ID,
		EndpointID: o.ep.ID, URL: o.ep.URL, Status: herald.StatusFail, ResponseStatusCode: 500,
		Response: "boom", ResponseDurationMs: 12, Trigger: herald.TriggerScheduled, CreatedAt: at}
	o.adminTok = herald.Token{ID: herald.NewID(herald.PrefixToken, at), Hash: "aa11", Name: "ci deploys", Prefix: "hrda_AbCd", CreatedAt: at}
	o.appTok = herald.Token{ID: herald.NewID(herald.PrefixToken, at.Add(time.Millisecond)), Hash: "bb22",
		AppID: o.app.ID, Prefix: "hrdp_EfGh", ReadOnly: true, ExpiresAt: &expires, CreatedAt: at}
	o.idem = herald.IdempotentResponse{Key: "k1", StatusCode: 202, Body: []byte(`{"id":"msg_x"}`),
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)}
	fail := herald.StatusFail
	o.task = herald.Task{ID: herald.NewID(herald.PrefixTask, at), AppID: o.app.ID, Kind: herald.TaskEndpointBulkReplay,
		Status: herald.TaskRunning, Params: herald.TaskParams{EndpointID: o.ep.ID, Since: at, Until: at.Add(time.Hour),
			Status: &fail, EventTypes: []string{"invoice.paid"}, Channel: "eu"},
		Cursor: "msg_c", Scanned: 7, Queued: 3, CreatedAt: at, UpdatedAt: at}
	return o
}

// write stores the objects in st, and leaves the message's delivery to
// ep leased (being sent) after one failed attempt of three counted.
func (o *storedObjects) write(t *testing.T, st herald.Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.ApplicationCreate(ctx, &o.app))
	must(st.EndpointCreate(ctx, &o.ep, 0))
	must(st.EndpointCreate(ctx, &o.off, 0))
	must(st.EventTypeCreate(ctx, &o.et))
	dlvs, err := st.MessageCreate(ctx, &o.msg, nil)
	if err != nil || len(dlvs) != 1 {
		t.Fatalf("MessageCreate: %v, %v; want one delivery", dlvs, err)
	}
	_, err = st.MessageCreate(ctx, &o.expunged, []string{})
	must(err)
	must(st.MessageExpungeContent(ctx, o.app.ID, o.expunged.ID))
	now := time.Now()
	claim := herald.ClaimParams{Now: now, Limit: 10, LeaseUntil: now.Add(time.Hour)}
	if jobs, err := st.DeliveryClaim(ctx, claim); err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	o.attempt.DeliveryID = dlvs[0].ID
	must(st.DeliveryComplete(ctx, []herald.DeliveryResult{{Attempt: o.attempt, Status: herald.StatusPending,
		Attempts: 3, NextAttemptAt: now}}))
	if jobs, err := st.DeliveryClaim(ctx, claim); err != nil || len(jobs) != 1 {
		t.Fatalf("second claim: %d jobs, %v", len(jobs), err)
	}
	must(st.TokenCreate(ctx, &o.adminTok))
	must(st.TokenCreate(ctx, &o.appTok))
	must(st.IdempotencyPut(ctx, &o.idem))
	must(st.TaskCreate(ctx, &o.task))
}

// TestMigrateStoreCopiesEveryStoredField writes objects with every field
// set to the embedded store, copies it with migrate-store and reads each
// back from PostgreSQL unchanged: applications, endpoints (secrets with
// the rotated one's expiry, headers, filters, throttle rate, disabled),
// event types, messages (payload byte for byte, an expunged one without),
// attempts, tokens, idempotency records and tasks; the delivery that was
// being sent is pending again, due, with its attempt count.
func TestMigrateStoreCopiesEveryStoredField(t *testing.T) {
	url := postgresURL(t)
	schema := testSchema(t, url)
	ctx := context.Background()
	dir := t.TempDir()
	src, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	o := newStoredObjects()
	o.write(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := migrateStore(t, nil, "--data-dir", dir, "--database-url", url, "--database-schema", schema); err != nil {
		t.Fatalf("migrate-store: %v\n%s%s", err, out, errOut)
	}
	dst, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	o.check(t, dst)
	if tasks := readTasks(t, dst); !reflect.DeepEqual(tasks, []herald.Task{o.task}) {
		t.Errorf("tasks after the move: %+v, want %+v", tasks, o.task)
	}
	o.checkQueue(t, dst)
}

// check reads every object back from st.
func (o *storedObjects) check(t *testing.T, st herald.Store) {
	t.Helper()
	ctx := context.Background()
	same := func(what string, got any, err error, want any) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s after the move: %+v (%v)\n want %+v", what, got, err, want)
		}
	}
	app, err := st.ApplicationGet(ctx, o.app.ID)
	same("application", app, err, &o.app)
	for _, want := range []*herald.Endpoint{&o.ep, &o.off} {
		ep, err := st.EndpointGet(ctx, o.app.ID, want.ID)
		same("endpoint", ep, err, want)
	}
	et, err := st.EventTypeGet(ctx, o.et.Name)
	if err == nil { // jsonb keeps the document, not its spelling
		var got, want any
		if json.Unmarshal(et.Schemas, &got) == nil && json.Unmarshal(o.et.Schemas, &want) == nil && reflect.DeepEqual(got, want) {
			et.Schemas = o.et.Schemas
		}
	}
	same("event type", et, err, &o.et)
	msg, err := st.MessageGet(ctx, o.app.ID, o.msg.ID)
	same("message", msg, err, &o.msg)
	expunged := o.expunged
	expunged.Payload = nil
	msg, err = st.MessageGet(ctx, o.app.ID, o.expunged.ID)
	same("expunged message", msg, err, &expunged)
	a, err := st.AttemptGet(ctx, o.app.ID, o.msg.ID, o.attempt.ID)
	same("attempt", a, err, &o.attempt)
	for _, want := range []*herald.Token{&o.adminTok, &o.appTok} {
		tok, err := st.TokenGetByHash(ctx, want.Hash)
		same("token", tok, err, want)
	}
	idem, err := st.IdempotencyGet(ctx, o.idem.Key, time.Now())
	same("idempotency record", idem, err, &o.idem)
}

// readTasks returns the tasks in the store.
func readTasks(t *testing.T, st herald.Store) []herald.Task {
	t.Helper()
	page, err := st.TaskList(context.Background(), herald.TaskFilter{}, herald.ListParams{Limit: herald.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// checkQueue claims from st: the delivery that was leased when the
// embedded store stopped comes out, due, with its attempt count, message
// and endpoint.
func (o *storedObjects) checkQueue(t *testing.T, st herald.Store) {
	t.Helper()
	now := time.Now()
	jobs, err := st.DeliveryClaim(context.Background(), herald.ClaimParams{Now: now, Limit: 10, LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim after the move: %d jobs, %v; want the delivery that was being sent", len(jobs), err)
	}
	j := jobs[0]
	if j.Delivery.Attempts != 3 || j.Message.ID != o.msg.ID || !reflect.DeepEqual(j.Endpoint, o.ep) {
		t.Errorf("claimed %+v, want the message's delivery to %s with 3 attempts counted", j, o.ep.ID)
	}
}
