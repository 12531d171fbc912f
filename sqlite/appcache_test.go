package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/sqlite"
)

// TestApplicationCacheNeverStale reads applications through the cache
// around updates and deletes: a read after a write always sees the write.
func TestApplicationCacheNeverStale(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), UID: "old", Name: "a", Metadata: map[string]string{"k": "v"}, CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second read is served by the cache
		got, err := st.ApplicationGet(ctx, "old")
		if err != nil || got.ID != app.ID {
			t.Fatalf("get by uid: %v %v", got, err)
		}
		got.Metadata["k"] = "changed by caller" // must not leak into the cache
		got.Name = "changed by caller"
	}
	if got, _ := st.ApplicationGet(ctx, "old"); got.Metadata["k"] != "v" || got.Name != "a" {
		t.Fatalf("a caller's change leaked into the cache: %+v", got)
	}
	app.UID, app.Name = "new", "b"
	if err := st.ApplicationUpdate(ctx, app); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplicationGet(ctx, "old"); !herald.IsNotFound(err) {
		t.Errorf("old uid still resolves after the update: %v", err)
	}
	if got, err := st.ApplicationGet(ctx, app.ID); err != nil || got.Name != "b" {
		t.Errorf("get by id after update: %+v %v", got, err)
	}
	if err := st.ApplicationDelete(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{app.ID, "new"} {
		if _, err := st.ApplicationGet(ctx, key); !herald.IsNotFound(err) {
			t.Errorf("%s resolves after delete: %v", key, err)
		}
	}
}
