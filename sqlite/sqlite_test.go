package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/storetest"
)

// openTest opens a store on path and closes it when t ends.
func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) herald.Store {
			return openTest(t, filepath.Join(t.TempDir(), "herald.db"))
		},
		Reopen: func(t *testing.T, s herald.Store) herald.Store {
			st := s.(*Store)
			path := st.path
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openTest(t, path)
		},
	})
}
