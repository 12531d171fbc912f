package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/sqlite"
)

// fanOutTo creates a message of eventType and returns the endpoints it
// went to, sorted.
func fanOutTo(t *testing.T, st *sqlite.Store, appID, eventType string) []string {
	t.Helper()
	now := time.Now()
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: appID, EventType: eventType,
		Payload: []byte(`{}`), PayloadRetentionDays: 90, CreatedAt: now}
	ds, err := st.MessageCreate(context.Background(), msg, nil)
	if err != nil {
		t.Fatalf("create message: %v", err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.EndpointID)
	}
	slices.Sort(ids)
	return ids
}

// TestFanOutCacheFollowsEndpointWrites creates messages around every kind
// of endpoint write, including writes that fail and roll back inside a
// shared batch: each message goes to exactly the endpoints committed
// before it.
func TestFanOutCacheFollowsEndpointWrites(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	newEndpoint := func(uid string, types ...string) *herald.Endpoint {
		now := time.Now()
		return &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, UID: uid,
			URL: "https://example.com/" + uid, EventTypes: types, CreatedAt: now, UpdatedAt: now}
	}
	a := newEndpoint("a", "x")
	if err := st.EndpointCreate(ctx, a, 0); err != nil {
		t.Fatal(err)
	}
	if got := fanOutTo(t, st, app.ID, "x"); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("after create: %v", got)
	}
	a.EventTypes = []string{"y"}
	if err := st.EndpointUpdate(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := fanOutTo(t, st, app.ID, "x"); len(got) != 0 {
		t.Fatalf("after the filter changed: %v", got)
	}
	a.EventTypes, a.Disabled = nil, true
	if err := st.EndpointUpdate(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := fanOutTo(t, st, app.ID, "x"); len(got) != 0 {
		t.Fatalf("after disabling: %v", got)
	}

	// Many creates of one uid race with message creates in shared
	// batches: one create wins, the others fail and are rolled back.
	var wg sync.WaitGroup
	created := make(chan string, 20)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ep := newEndpoint("b")
			if err := st.EndpointCreate(ctx, ep, 0); err == nil {
				created <- ep.ID
			} else if !herald.IsConflict(err) {
				t.Errorf("create %d: %v", i, err)
			}
		}()
		go func() { defer wg.Done(); fanOutTo(t, st, app.ID, "x") }()
	}
	wg.Wait()
	close(created)
	var winners []string
	for id := range created {
		winners = append(winners, id)
	}
	if len(winners) != 1 {
		t.Fatalf("%d creates of one uid succeeded", len(winners))
	}
	if got := fanOutTo(t, st, app.ID, "x"); !slices.Equal(got, winners) {
		t.Fatalf("after the race: %v, want %v", got, winners)
	}
	if err := st.EndpointDelete(ctx, app.ID, winners[0]); err != nil {
		t.Fatal(err)
	}
	if got := fanOutTo(t, st, app.ID, "x"); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
	if err := st.ApplicationDelete(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "x", CreatedAt: now}
	if _, err := st.MessageCreate(ctx, msg, nil); !herald.IsNotFound(err) {
		t.Fatal(fmt.Sprint("message to a deleted application: ", err))
	}
}
