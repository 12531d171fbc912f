package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// Harness makes the stores the suite runs against.
type Harness struct {
	// New returns a new, empty store that is independent of every other
	// store it returned (subtests run in parallel). It should close the
	// store when t ends (t.Cleanup).
	New func(t *testing.T) herald.Store
	// Reopen closes s and opens the same database again, returning the new
	// store (closed when t ends). Optional: durability tests are skipped
	// without it.
	Reopen func(t *testing.T, s herald.Store) herald.Store
	// Cipher is the cipher New's stores encrypt endpoint secrets with, or
	// nil when they do not encrypt.
	Cipher herald.SecretCipher
	// OpenCipher closes s and opens its database again with cipher c (nil:
	// none) in the store's config, skipping the key check when
	// skipKeyCheck; it returns Open's error. Optional: the encryption tests
	// are skipped without it.
	OpenCipher func(t *testing.T, s herald.Store, c herald.SecretCipher, skipKeyCheck bool) (herald.Store, error)
	// RawSecrets returns an endpoint's secrets column as it is stored.
	// Required with OpenCipher.
	RawSecrets func(t *testing.T, s herald.Store, endpointID string) string
}

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// Run runs the conformance suite: every herald.Store method against its
// documented contract. Times used by the suite have microsecond precision,
// so a store must keep at least that.
func Run(t *testing.T, h Harness) {
	var all []test
	for _, group := range [][]test{
		applicationTests, endpointTests, eventTypeTests, messageTests, fanOutTests,
		claimTests, queueTests, attemptTests, viewTests, authTests, accessTests, lifecycleTests, concurrencyTests, clusterTests, pollTests, statsTests,
		healthTests, retentionTests, replayTests, expungedTests, secretTests,
	} {
		all = append(all, group...)
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newFixture(t, h))
		})
	}
}

// base is the suite's clock origin: every fixture time is base plus whole
// milliseconds.
var base = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// fixture is one subtest's store and the helpers that fill it.
type fixture struct {
	t   *testing.T
	h   Harness
	s   herald.Store
	ctx context.Context
	seq int
}

func newFixture(t *testing.T, h Harness) *fixture {
	return &fixture{t: t, h: h, s: h.New(t), ctx: context.Background()}
}

// at returns base plus n milliseconds.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

// tick returns a new time, later than every one returned before.
func (f *fixture) tick() time.Time {
	f.seq++
	return at(f.seq)
}

// reopen closes the store and opens it again; it skips the test when the
// harness cannot reopen.
func (f *fixture) reopen() {
	f.t.Helper()
	if f.h.Reopen == nil {
		f.t.Skip("harness has no Reopen")
	}
	f.s = f.h.Reopen(f.t, f.s)
}

// app creates an application; mods change it before it is stored.
func (f *fixture) app(mods ...func(*herald.Application)) *herald.Application {
	f.t.Helper()
	now := f.tick()
	a := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "app", CreatedAt: now, UpdatedAt: now}
	for _, m := range mods {
		m(a)
	}
	if err := f.s.ApplicationCreate(f.ctx, a); err != nil {
		f.t.Fatalf("ApplicationCreate: %v", err)
	}
	return a
}

// endpoint creates an endpoint of appID.
func (f *fixture) endpoint(appID string, mods ...func(*herald.Endpoint)) *herald.Endpoint {
	f.t.Helper()
	now := f.tick()
	e := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, now), AppID: appID, URL: "https://example.com/hook",
		Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now,
	}
	for _, m := range mods {
		m(e)
	}
	if err := f.s.EndpointCreate(f.ctx, e, 0); err != nil {
		f.t.Fatalf("EndpointCreate: %v", err)
	}
	return e
}

// newMessage returns an unsaved message of appID created at a new time.
func (f *fixture) newMessage(appID string, mods ...func(*herald.Message)) *herald.Message {
	now := f.tick()
	m := &herald.Message{
		ID: herald.NewID(herald.PrefixMessage, now), AppID: appID, EventType: "invoice.paid",
		Payload: json.RawMessage(`{"n":` + fmt.Sprint(f.seq) + `}`), PayloadRetentionDays: 90, CreatedAt: now,
	}
	for _, mod := range mods {
		mod(m)
	}
	return m
}

// message creates a message of appID with fan-out to matching endpoints.
func (f *fixture) message(appID string, mods ...func(*herald.Message)) (*herald.Message, []herald.Delivery) {
	f.t.Helper()
	m := f.newMessage(appID, mods...)
	ds, err := f.s.MessageCreate(f.ctx, m, nil)
	if err != nil {
		f.t.Fatalf("MessageCreate: %v", err)
	}
	return m, ds
}

// createAll creates msgs concurrently (so that a batching store commits
// them together) and fails the test on any error.
func (f *fixture) createAll(msgs []*herald.Message) [][]herald.Delivery {
	f.t.Helper()
	out := make([][]herald.Delivery, len(msgs))
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { out[i], errs[i] = f.s.MessageCreate(f.ctx, m, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			f.t.Fatalf("MessageCreate %s: %v", msgs[i].ID, err)
		}
	}
	return out
}

// claimAll claims every delivery due at now (no per-endpoint bound).
func (f *fixture) claimAll(now time.Time) []herald.DeliveryJob {
	f.t.Helper()
	jobs, err := f.s.DeliveryClaim(f.ctx, herald.ClaimParams{Now: now, Limit: 10000, LeaseUntil: now.Add(time.Minute)})
	if err != nil {
		f.t.Fatalf("DeliveryClaim: %v", err)
	}
	return jobs
}

// result returns a DeliveryResult for job with an attempt at time now.
func result(job herald.DeliveryJob, status herald.MessageStatus, code int, now time.Time) herald.DeliveryResult {
	attemptStatus := herald.StatusSuccess
	if status != herald.StatusSuccess {
		attemptStatus = herald.StatusFail
	}
	return herald.DeliveryResult{
		Attempt: herald.Attempt{
			ID: herald.NewID(herald.PrefixAttempt, now), DeliveryID: job.Delivery.ID, AppID: job.Delivery.AppID,
			MsgID: job.Delivery.MsgID, EndpointID: job.Delivery.EndpointID, URL: job.Endpoint.URL,
			Status: attemptStatus, ResponseStatusCode: code, Response: fmt.Sprintf("response %d", code),
			ResponseDurationMs: 12, Trigger: job.Delivery.Trigger, CreatedAt: now,
		},
		Status:   status,
		Attempts: job.Delivery.Attempts + 1,
	}
}

// wantCode fails t unless err carries the domain error code.
func wantCode(t *testing.T, err error, code string, what string) {
	t.Helper()
	if got := herald.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (err %v), want %q", what, got, err, code)
	}
}

// must fails t on err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// same compares two values of one field, treating nil and empty slices
// and maps as equal and times by instant.
func same(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		return x.Equal(b.(time.Time))
	case *time.Time:
		y := b.(*time.Time)
		return (x == nil) == (y == nil) && (x == nil || x.Equal(*y))
	case *int:
		y := b.(*int)
		return (x == nil) == (y == nil) && (x == nil || *x == *y)
	case []string:
		y := b.([]string)
		return len(x) == 0 && len(y) == 0 || slices.Equal(x, y)
	case map[string]string:
		return maps.Equal(x, b.(map[string]string))
	case []herald.EndpointSecret:
		y := b.([]herald.EndpointSecret)
		return slices.EqualFunc(x, y, func(p, q herald.EndpointSecret) bool {
			return p.Key == q.Key && same(p.ExpiresAt, q.ExpiresAt)
		})
	case json.RawMessage:
		return jsonEqual(x, b.(json.RawMessage))
	}
	return reflect.DeepEqual(a, b)
}

// jsonEqual compares two JSON documents by value (nil only equals nil).
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// field is one compared field: its name, the value got and the one wanted.
type field struct {
	name      string
	got, want any
}

// checkFields reports every field that differs.
func checkFields(t *testing.T, what string, fields ...field) {
	t.Helper()
	for _, f := range fields {
		if !same(f.got, f.want) {
			t.Errorf("%s: %s = %v, want %v", what, f.name, show(f.got), show(f.want))
		}
	}
}

func show(v any) any {
	switch x := v.(type) {
	case *int:
		if x != nil {
			return *x
		}
	case *time.Time:
		if x != nil {
			return *x
		}
	case json.RawMessage:
		return string(x)
	}
	return v
}

func checkApp(t *testing.T, got, want *herald.Application) {
	t.Helper()
	checkFields(t, "application "+want.ID,
		field{"ID", got.ID, want.ID}, field{"UID", got.UID, want.UID}, field{"Name", got.Name, want.Name},
		field{"ThrottleRate", got.ThrottleRate, want.ThrottleRate}, field{"Metadata", got.Metadata, want.Metadata},
		field{"CreatedAt", got.CreatedAt, want.CreatedAt}, field{"UpdatedAt", got.UpdatedAt, want.UpdatedAt})
}

func checkEndpoint(t *testing.T, got, want *herald.Endpoint) {
	t.Helper()
	checkFields(t, "endpoint "+want.ID,
		field{"ID", got.ID, want.ID}, field{"AppID", got.AppID, want.AppID}, field{"UID", got.UID, want.UID},
		field{"URL", got.URL, want.URL}, field{"Description", got.Description, want.Description},
		field{"EventTypes", got.EventTypes, want.EventTypes}, field{"Channels", got.Channels, want.Channels},
		field{"Disabled", got.Disabled, want.Disabled}, field{"ThrottleRate", got.ThrottleRate, want.ThrottleRate},
		field{"Metadata", got.Metadata, want.Metadata}, field{"Headers", got.Headers, want.Headers},
		field{"Secrets", got.Secrets, want.Secrets},
		field{"CreatedAt", got.CreatedAt, want.CreatedAt}, field{"UpdatedAt", got.UpdatedAt, want.UpdatedAt})
}

func checkEventType(t *testing.T, got, want *herald.EventType) {
	t.Helper()
	checkFields(t, "event type "+want.Name,
		field{"Name", got.Name, want.Name}, field{"Description", got.Description, want.Description},
		field{"Archived", got.Archived, want.Archived}, field{"Deprecated", got.Deprecated, want.Deprecated},
		field{"FeatureFlag", got.FeatureFlag, want.FeatureFlag}, field{"Schemas", got.Schemas, want.Schemas},
		field{"CreatedAt", got.CreatedAt, want.CreatedAt}, field{"UpdatedAt", got.UpdatedAt, want.UpdatedAt})
}

// checkMessage compares messages; the payload must match byte for byte.
func checkMessage(t *testing.T, got, want *herald.Message) {
	t.Helper()
	checkFields(t, "message "+want.ID,
		field{"ID", got.ID, want.ID}, field{"AppID", got.AppID, want.AppID}, field{"EventID", got.EventID, want.EventID},
		field{"EventType", got.EventType, want.EventType}, field{"Channels", got.Channels, want.Channels},
		field{"PayloadRetentionDays", got.PayloadRetentionDays, want.PayloadRetentionDays},
		field{"PayloadExpiry", got.PayloadExpiry(), want.PayloadExpiry()},
		field{"DeliverAt", got.DeliverAt, want.DeliverAt},
		field{"CreatedAt", got.CreatedAt, want.CreatedAt})
	if string(got.Payload) != string(want.Payload) || (got.Payload == nil) != (want.Payload == nil) {
		t.Errorf("message %s: Payload = %q, want %q (byte for byte)", want.ID, got.Payload, want.Payload)
	}
}

func checkAttempt(t *testing.T, got, want *herald.Attempt) {
	t.Helper()
	checkFields(t, "attempt "+want.ID,
		field{"ID", got.ID, want.ID}, field{"DeliveryID", got.DeliveryID, want.DeliveryID},
		field{"AppID", got.AppID, want.AppID}, field{"MsgID", got.MsgID, want.MsgID},
		field{"EndpointID", got.EndpointID, want.EndpointID}, field{"URL", got.URL, want.URL},
		field{"Status", got.Status, want.Status}, field{"ResponseStatusCode", got.ResponseStatusCode, want.ResponseStatusCode},
		field{"Response", got.Response, want.Response}, field{"ResponseDurationMs", got.ResponseDurationMs, want.ResponseDurationMs},
		field{"Trigger", got.Trigger, want.Trigger}, field{"CreatedAt", got.CreatedAt, want.CreatedAt})
}

// keys returns the cursor keys of items.
func keys[T any](items []T, key func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	return out
}

// checkPaging walks a list with page size limit, forward from the start to
// the end and then backward from the last page with PrevIterator, and
// checks that both walks see exactly want (keys in list order) with Done
// set only on the last page of each walk.
func checkPaging[T any](t *testing.T, want []string, limit int, ascending bool,
	list func(p herald.ListParams) (herald.Page[T], error), key func(T) string) {
	t.Helper()
	var got []string
	var last herald.Page[T]
	p := herald.ListParams{Limit: limit, Ascending: ascending}
	for pages := 0; ; pages++ {
		if pages > len(want)+2 {
			t.Fatalf("forward walk did not end after %d pages", pages)
		}
		page, err := list(p)
		must(t, err, "list")
		if len(page.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(page.Items), limit)
		}
		if !page.Done && len(page.Items) < limit {
			t.Fatalf("page not Done but holds %d items, limit %d", len(page.Items), limit)
		}
		got = append(got, keys(page.Items, key)...)
		if len(page.Items) > 0 {
			last = page
		}
		if page.Done {
			break
		}
		p.Iterator = page.Iterator
	}
	if !slices.Equal(got, want) {
		t.Fatalf("forward walk saw %v, want %v", got, want)
	}
	if len(want) == 0 {
		return
	}
	// Walk back from the last page: the pages before it, in list order.
	back := slices.Clone(keys(last.Items, key))
	p.Iterator = last.PrevIterator
	for pages := 0; ; pages++ {
		if pages > len(want)+2 {
			t.Fatalf("backward walk did not end after %d pages", pages)
		}
		page, err := list(p)
		must(t, err, "list backward")
		back = append(keys(page.Items, key), back...)
		if page.Done {
			break
		}
		if len(page.Items) == 0 {
			t.Fatal("backward walk: empty page not Done")
		}
		p.Iterator = page.PrevIterator
	}
	if !slices.Equal(back, want) {
		t.Fatalf("backward walk saw %v, want %v", back, want)
	}
}

// reversed returns a reversed copy of s.
func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// drain empties a notify channel.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// notified waits briefly for a value on ch.
func notified(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}
