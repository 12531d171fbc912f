package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var applicationTests = []test{
	{"ApplicationCreateGet", testApplicationCreateGet},
	{"ApplicationUIDConflict", testApplicationUIDConflict},
	{"ApplicationUpdate", testApplicationUpdate},
	{"ApplicationDelete", testApplicationDelete},
	{"ApplicationList", testApplicationList},
}

func testApplicationCreateGet(t *testing.T, f *fixture) {
	a := f.app(func(a *herald.Application) {
		a.UID = "customer-1"
		a.ThrottleRate = ptr(7)
		a.Metadata = map[string]string{"tier": "gold", "empty": ""}
	})
	plain := f.app()
	for _, key := range []string{a.ID, "customer-1"} {
		got, err := f.s.ApplicationGet(f.ctx, key)
		must(t, err, "ApplicationGet "+key)
		checkApp(t, got, a)
	}
	got, err := f.s.ApplicationGet(f.ctx, plain.ID)
	must(t, err, "ApplicationGet")
	checkApp(t, got, plain)
	_, err = f.s.ApplicationGet(f.ctx, "app_missing")
	wantCode(t, err, herald.ENotFound, "ApplicationGet unknown")
	_, err = f.s.ApplicationGet(f.ctx, "")
	wantCode(t, err, herald.ENotFound, "ApplicationGet empty key")
	dup := *plain
	wantCode(t, f.s.ApplicationCreate(f.ctx, &dup), herald.EConflict, "ApplicationCreate same ID")
}

func testApplicationUIDConflict(t *testing.T, f *fixture) {
	f.app(func(a *herald.Application) { a.UID = "taken" })
	now := f.tick()
	err := f.s.ApplicationCreate(f.ctx, &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), UID: "taken", Name: "b", CreatedAt: now, UpdatedAt: now})
	wantCode(t, err, herald.EConflict, "ApplicationCreate taken uid")
	// Applications without a uid never conflict with each other.
	f.app()
	f.app()
	page, err := f.s.ApplicationList(f.ctx, herald.ListParams{Limit: 10})
	must(t, err, "ApplicationList")
	if len(page.Items) != 3 {
		t.Fatalf("%d applications, want 3 (the conflicting one must not be stored)", len(page.Items))
	}
}

func testApplicationUpdate(t *testing.T, f *fixture) {
	a := f.app(func(a *herald.Application) {
		a.UID = "old-uid"
		a.ThrottleRate = ptr(3)
		a.Metadata = map[string]string{"k": "v"}
	})
	other := f.app(func(a *herald.Application) { a.UID = "other-uid" })
	upd := *a
	upd.UID, upd.Name, upd.ThrottleRate, upd.Metadata = "new-uid", "renamed", nil, map[string]string{"x": "y"}
	upd.UpdatedAt = f.tick()
	must(t, f.s.ApplicationUpdate(f.ctx, &upd), "ApplicationUpdate")
	got, err := f.s.ApplicationGet(f.ctx, "new-uid")
	must(t, err, "ApplicationGet new uid")
	checkApp(t, got, &upd)
	_, err = f.s.ApplicationGet(f.ctx, "old-uid")
	wantCode(t, err, herald.ENotFound, "ApplicationGet old uid")

	clash := upd
	clash.UID = other.UID
	wantCode(t, f.s.ApplicationUpdate(f.ctx, &clash), herald.EConflict, "ApplicationUpdate to a taken uid")
	got, err = f.s.ApplicationGet(f.ctx, a.ID)
	must(t, err, "ApplicationGet")
	checkApp(t, got, &upd)

	cleared := upd
	cleared.UID = ""
	must(t, f.s.ApplicationUpdate(f.ctx, &cleared), "ApplicationUpdate clearing uid")
	got, err = f.s.ApplicationGet(f.ctx, a.ID)
	must(t, err, "ApplicationGet")
	checkApp(t, got, &cleared)

	missing := upd
	missing.ID, missing.UID = "app_missing", ""
	wantCode(t, f.s.ApplicationUpdate(f.ctx, &missing), herald.ENotFound, "ApplicationUpdate unknown")
}

func testApplicationDelete(t *testing.T, f *fixture) {
	a := f.app(func(a *herald.Application) { a.UID = "gone" })
	keep := f.app()
	must(t, f.s.ApplicationDelete(f.ctx, a.ID), "ApplicationDelete")
	_, err := f.s.ApplicationGet(f.ctx, a.ID)
	wantCode(t, err, herald.ENotFound, "ApplicationGet deleted")
	wantCode(t, f.s.ApplicationDelete(f.ctx, a.ID), herald.ENotFound, "ApplicationDelete twice")
	_, err = f.s.ApplicationGet(f.ctx, keep.ID)
	must(t, err, "ApplicationGet other")
	// The uid is free again.
	f.app(func(a *herald.Application) { a.UID = "gone" })
}

func testApplicationList(t *testing.T, f *fixture) {
	var ids []string
	for range 7 {
		ids = append(ids, f.app().ID)
	}
	list := func(p herald.ListParams) (herald.Page[herald.Application], error) {
		return f.s.ApplicationList(f.ctx, p)
	}
	key := func(a herald.Application) string { return a.ID }
	checkPaging(t, ids, 3, true, list, key)
	checkPaging(t, reversed(ids), 3, false, list, key)
	checkPaging(t, ids, 7, true, list, key)
	checkPaging(t, ids, 100, true, list, key)
	page, err := f.s.ApplicationList(f.ctx, herald.ListParams{Limit: 2, Ascending: true, Iterator: ids[len(ids)-1]})
	must(t, err, "ApplicationList after last")
	if len(page.Items) != 0 || !page.Done {
		t.Fatalf("page after the last item: %d items, Done %v", len(page.Items), page.Done)
	}
	page, err = f.s.ApplicationList(f.ctx, herald.ListParams{Limit: 2, Ascending: true, Iterator: "-" + ids[0]})
	must(t, err, "ApplicationList before first")
	if len(page.Items) != 0 || !page.Done {
		t.Fatalf("page before the first item: %d items, Done %v", len(page.Items), page.Done)
	}
	page, err = f.s.ApplicationList(f.ctx, herald.ListParams{Limit: 2, Ascending: true, Iterator: ids[2]})
	must(t, err, "ApplicationList from middle")
	if got := keys(page.Items, key); len(got) != 2 || got[0] != ids[3] || got[1] != ids[4] || page.Done {
		t.Fatalf("page after %s = %v (Done %v), want %v", ids[2], got, page.Done, ids[3:5])
	}
	if page.Iterator != ids[4] || page.PrevIterator != "-"+ids[3] {
		t.Fatalf("iterators %q, %q; want %q, %q", page.Iterator, page.PrevIterator, ids[4], "-"+ids[3])
	}
}

var endpointTests = []test{
	{"EndpointCreateGet", testEndpointCreateGet},
	{"EndpointUIDConflict", testEndpointUIDConflict},
	{"EndpointUpdate", testEndpointUpdate},
	{"EndpointDelete", testEndpointDelete},
	{"EndpointList", testEndpointList},
	{"EndpointCreateLimit", testEndpointCreateLimit},
}

// testEndpointCreateLimit creates endpoints against a per-application
// bound: one past it is EInvalid, other applications are not affected, a
// deletion makes room, and concurrent creations never pass it.
func testEndpointCreateLimit(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	newEp := func(appID string) *herald.Endpoint {
		now := f.tick()
		return &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: appID, URL: "https://x.example",
			Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
	}
	var first *herald.Endpoint
	for i := 0; i < 3; i++ {
		e := newEp(a.ID)
		must(t, f.s.EndpointCreate(f.ctx, e, 3), "EndpointCreate under the limit")
		if first == nil {
			first = e
		}
	}
	wantCode(t, f.s.EndpointCreate(f.ctx, newEp(a.ID), 3), herald.EInvalid, "EndpointCreate past the limit")
	must(t, f.s.EndpointCreate(f.ctx, newEp(a.ID), 0), "EndpointCreate without a limit")
	must(t, f.s.EndpointCreate(f.ctx, newEp(b.ID), 3), "EndpointCreate in another application")
	wantCode(t, f.s.EndpointCreate(f.ctx, newEp("app_missing"), 3), herald.ENotFound, "EndpointCreate in unknown application with a limit")
	must(t, f.s.EndpointDelete(f.ctx, a.ID, first.ID), "EndpointDelete")
	wantCode(t, f.s.EndpointCreate(f.ctx, newEp(a.ID), 3), herald.EInvalid, "EndpointCreate with 3 of 3 after a deletion")
	must(t, f.s.EndpointCreate(f.ctx, newEp(a.ID), 4), "EndpointCreate with 3 of 4 after a deletion")
	wantCode(t, f.s.EndpointCreate(f.ctx, newEp(a.ID), 4), herald.EInvalid, "EndpointCreate with 4 of 4")

	c := f.app()
	eps := make([]*herald.Endpoint, 12)
	for i := range eps {
		eps[i] = newEp(c.ID)
	}
	errs := make(chan error, len(eps))
	for _, e := range eps {
		go func() { errs <- f.s.EndpointCreate(f.ctx, e, 5) }()
	}
	created := 0
	for range eps {
		switch err := <-errs; {
		case err == nil:
			created++
		case herald.ErrorCode(err) != herald.EInvalid:
			t.Errorf("concurrent EndpointCreate: %v", err)
		}
	}
	if created != 5 {
		t.Errorf("12 concurrent creations with a limit of 5 created %d", created)
	}
}

// fullEndpoint sets every field of an endpoint.
func fullEndpoint(uid string, expires time.Time) func(*herald.Endpoint) {
	return func(e *herald.Endpoint) {
		e.UID = uid
		e.URL = "https://hooks.example.com/path?q=1"
		e.Description = "all the fields"
		e.EventTypes = []string{"invoice.paid", "user.created"}
		e.Channels = []string{"project_1", "eu:west"}
		e.Disabled = true
		e.ThrottleRate = ptr(25)
		e.Metadata = map[string]string{"team": "billing"}
		e.Headers = map[string]string{"X-Custom": "a", "Authorization": "Bearer x"}
		e.Secrets = []herald.EndpointSecret{
			{Key: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"},
			{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ExpiresAt: &expires},
		}
	}
}

func testEndpointCreateGet(t *testing.T, f *fixture) {
	a := f.app()
	other := f.app()
	e := f.endpoint(a.ID, fullEndpoint("ep-uid", at(99_000)))
	plain := f.endpoint(a.ID)
	for _, key := range []string{e.ID, "ep-uid"} {
		got, err := f.s.EndpointGet(f.ctx, a.ID, key)
		must(t, err, "EndpointGet "+key)
		checkEndpoint(t, got, e)
	}
	got, err := f.s.EndpointGet(f.ctx, a.ID, plain.ID)
	must(t, err, "EndpointGet plain")
	checkEndpoint(t, got, plain)
	_, err = f.s.EndpointGet(f.ctx, other.ID, e.ID)
	wantCode(t, err, herald.ENotFound, "EndpointGet in another application")
	_, err = f.s.EndpointGet(f.ctx, other.ID, "ep-uid")
	wantCode(t, err, herald.ENotFound, "EndpointGet uid in another application")
	_, err = f.s.EndpointGet(f.ctx, a.ID, "ep_missing")
	wantCode(t, err, herald.ENotFound, "EndpointGet unknown")

	now := f.tick()
	orphan := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: "app_missing", URL: "https://x.example", CreatedAt: now, UpdatedAt: now}
	wantCode(t, f.s.EndpointCreate(f.ctx, orphan, 0), herald.ENotFound, "EndpointCreate in unknown application")
}

func testEndpointUIDConflict(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "same" })
	now := f.tick()
	dup := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: a.ID, UID: "same", URL: "https://x.example", CreatedAt: now, UpdatedAt: now}
	wantCode(t, f.s.EndpointCreate(f.ctx, dup, 0), herald.EConflict, "EndpointCreate taken uid")
	// The same uid in another application is fine.
	inB := f.endpoint(b.ID, func(e *herald.Endpoint) { e.UID = "same" })
	got, err := f.s.EndpointGet(f.ctx, b.ID, "same")
	must(t, err, "EndpointGet")
	checkEndpoint(t, got, inB)
	f.endpoint(a.ID)
	f.endpoint(a.ID)
	page, err := f.s.EndpointList(f.ctx, a.ID, herald.ListParams{Limit: 10})
	must(t, err, "EndpointList")
	if len(page.Items) != 3 {
		t.Fatalf("%d endpoints, want 3", len(page.Items))
	}
}

func testEndpointUpdate(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "first" })
	f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "second" })
	upd := *e
	fullEndpoint("renamed", at(50_000))(&upd)
	upd.UpdatedAt = f.tick()
	must(t, f.s.EndpointUpdate(f.ctx, &upd), "EndpointUpdate")
	got, err := f.s.EndpointGet(f.ctx, a.ID, "renamed")
	must(t, err, "EndpointGet")
	checkEndpoint(t, got, &upd)
	_, err = f.s.EndpointGet(f.ctx, a.ID, "first")
	wantCode(t, err, herald.ENotFound, "EndpointGet old uid")

	// Every field is replaced, including clearing lists and maps.
	bare := upd
	bare.UID, bare.Description, bare.EventTypes, bare.Channels, bare.Disabled = "", "", nil, nil, false
	bare.ThrottleRate, bare.Metadata, bare.Headers = nil, nil, nil
	bare.Secrets = []herald.EndpointSecret{{Key: "whsec_new"}}
	must(t, f.s.EndpointUpdate(f.ctx, &bare), "EndpointUpdate clearing")
	got, err = f.s.EndpointGet(f.ctx, a.ID, e.ID)
	must(t, err, "EndpointGet")
	checkEndpoint(t, got, &bare)

	clash := bare
	clash.UID = "second"
	wantCode(t, f.s.EndpointUpdate(f.ctx, &clash), herald.EConflict, "EndpointUpdate taken uid")
	missing := bare
	missing.ID = "ep_missing"
	wantCode(t, f.s.EndpointUpdate(f.ctx, &missing), herald.ENotFound, "EndpointUpdate unknown")
	wrongApp := bare
	wrongApp.AppID = f.app().ID
	wantCode(t, f.s.EndpointUpdate(f.ctx, &wrongApp), herald.ENotFound, "EndpointUpdate in another application")
}

func testEndpointDelete(t *testing.T, f *fixture) {
	a := f.app()
	gone := f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "gone" })
	kept := f.endpoint(a.ID)
	msg, ds := f.message(a.ID)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want 2", len(ds))
	}
	wantCode(t, f.s.EndpointDelete(f.ctx, f.app().ID, gone.ID), herald.ENotFound, "EndpointDelete in another application")
	must(t, f.s.EndpointDelete(f.ctx, a.ID, gone.ID), "EndpointDelete")
	_, err := f.s.EndpointGet(f.ctx, a.ID, gone.ID)
	wantCode(t, err, herald.ENotFound, "EndpointGet deleted")
	wantCode(t, f.s.EndpointDelete(f.ctx, a.ID, gone.ID), herald.ENotFound, "EndpointDelete twice")
	// Its deliveries are gone: only the other endpoint is claimed and listed.
	jobs := f.claimAll(at(1_000_000))
	if len(jobs) != 1 || jobs[0].Endpoint.ID != kept.ID {
		t.Fatalf("claimed %d jobs, want one for the remaining endpoint", len(jobs))
	}
	page, err := f.s.MessageEndpointList(f.ctx, a.ID, msg.ID, herald.ListParams{Limit: 10})
	must(t, err, "MessageEndpointList")
	if len(page.Items) != 1 || page.Items[0].Endpoint.ID != kept.ID {
		t.Fatalf("message endpoints %v, want only %s", keys(page.Items, func(m herald.MessageEndpoint) string { return m.Endpoint.ID }), kept.ID)
	}
	// The uid is free again.
	f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "gone" })
}

func testEndpointList(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	var ids []string
	for i := range 8 {
		ids = append(ids, f.endpoint(a.ID).ID)
		if i%3 == 0 {
			f.endpoint(b.ID)
		}
	}
	list := func(p herald.ListParams) (herald.Page[herald.Endpoint], error) {
		return f.s.EndpointList(f.ctx, a.ID, p)
	}
	key := func(e herald.Endpoint) string { return e.ID }
	checkPaging(t, ids, 3, true, list, key)
	checkPaging(t, reversed(ids), 3, false, list, key)
	checkPaging(t, ids, 4, true, list, key)
	page, err := f.s.EndpointList(f.ctx, a.ID, herald.ListParams{Limit: 1, Ascending: true})
	must(t, err, "EndpointList")
	want, _ := f.s.EndpointGet(f.ctx, a.ID, ids[0])
	checkEndpoint(t, &page.Items[0], want)
	empty := f.app()
	page, err = f.s.EndpointList(f.ctx, empty.ID, herald.ListParams{Limit: 10})
	must(t, err, "EndpointList empty")
	if len(page.Items) != 0 || !page.Done {
		t.Fatalf("empty application lists %d endpoints", len(page.Items))
	}
	_, err = f.s.EndpointList(f.ctx, "app_missing", herald.ListParams{Limit: 10})
	wantCode(t, err, herald.ENotFound, "EndpointList unknown application")
}

var eventTypeTests = []test{
	{"EventTypeCRUD", testEventTypeCRUD},
	{"EventTypeList", testEventTypeList},
}

func testEventTypeCRUD(t *testing.T, f *fixture) {
	now := f.tick()
	et := &herald.EventType{Name: "invoice.paid", Description: "An invoice was paid", Deprecated: true, FeatureFlag: "beta",
		Schemas: json.RawMessage(`{"1": {"type": "object", "properties": {"id": {"type": "string"}}}}`), CreatedAt: now, UpdatedAt: now}
	must(t, f.s.EventTypeCreate(f.ctx, et), "EventTypeCreate")
	got, err := f.s.EventTypeGet(f.ctx, "invoice.paid")
	must(t, err, "EventTypeGet")
	checkEventType(t, got, et)
	bare := &herald.EventType{Name: "user.created", CreatedAt: now, UpdatedAt: now}
	must(t, f.s.EventTypeCreate(f.ctx, bare), "EventTypeCreate bare")
	got, err = f.s.EventTypeGet(f.ctx, "user.created")
	must(t, err, "EventTypeGet bare")
	checkEventType(t, got, bare)

	dup := *et
	wantCode(t, f.s.EventTypeCreate(f.ctx, &dup), herald.EConflict, "EventTypeCreate existing")
	upd := *et
	upd.Description, upd.Archived, upd.Deprecated, upd.FeatureFlag, upd.Schemas = "changed", true, false, "", nil
	upd.UpdatedAt = f.tick()
	must(t, f.s.EventTypeUpdate(f.ctx, &upd), "EventTypeUpdate")
	got, err = f.s.EventTypeGet(f.ctx, "invoice.paid")
	must(t, err, "EventTypeGet archived")
	checkEventType(t, got, &upd)
	wantCode(t, f.s.EventTypeCreate(f.ctx, &dup), herald.EConflict, "EventTypeCreate existing archived")
	missing := upd
	missing.Name = "no.such"
	wantCode(t, f.s.EventTypeUpdate(f.ctx, &missing), herald.ENotFound, "EventTypeUpdate unknown")

	must(t, f.s.EventTypeDelete(f.ctx, "invoice.paid"), "EventTypeDelete")
	_, err = f.s.EventTypeGet(f.ctx, "invoice.paid")
	wantCode(t, err, herald.ENotFound, "EventTypeGet deleted")
	wantCode(t, f.s.EventTypeDelete(f.ctx, "invoice.paid"), herald.ENotFound, "EventTypeDelete twice")
	must(t, f.s.EventTypeCreate(f.ctx, &dup), "EventTypeCreate after delete")
}

func testEventTypeList(t *testing.T, f *fixture) {
	var all, active []string
	for i := range 9 {
		name := fmt.Sprintf("type.%02d", i)
		now := f.tick()
		et := &herald.EventType{Name: name, Archived: i%3 == 1, CreatedAt: now, UpdatedAt: now}
		must(t, f.s.EventTypeCreate(f.ctx, et), "EventTypeCreate")
		all = append(all, name)
		if !et.Archived {
			active = append(active, name)
		}
	}
	key := func(e herald.EventType) string { return e.Name }
	withArchived := func(p herald.ListParams) (herald.Page[herald.EventType], error) {
		return f.s.EventTypeList(f.ctx, p, true)
	}
	withoutArchived := func(p herald.ListParams) (herald.Page[herald.EventType], error) {
		return f.s.EventTypeList(f.ctx, p, false)
	}
	checkPaging(t, all, 4, true, withArchived, key)
	checkPaging(t, reversed(all), 4, false, withArchived, key)
	checkPaging(t, active, 2, true, withoutArchived, key)
	checkPaging(t, reversed(active), 5, false, withoutArchived, key)
}
