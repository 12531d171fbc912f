package receive_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/receive"
	"github.com/herald-webhooks/herald/signing"
)

// BenchmarkReceive measures the middleware in process (no network): read,
// verify, claim, run a no-op handler, complete, for a new event each time,
// with the memory store and a SQLite file store.
func BenchmarkReceive(b *testing.B) {
	verifier, err := signing.NewStandardVerifier(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	body := `{"type":"invoice.paid","data":{"id":"in_1","amount":4200,"currency":"eur"}}`
	key, _ := signing.ParseKey(testSecret)
	stores := map[string]func(b *testing.B) receive.Store{
		"memory": func(*testing.B) receive.Store { return receive.NewMemoryStore(receive.MemoryConfig{}) },
		"sqlite": func(b *testing.B) receive.Store {
			db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "r.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			st, err := receive.NewSQLStore(db, receive.SQLConfig{Dialect: receive.SQLite})
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	for _, name := range []string{"memory", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			rcv, err := receive.New(receive.Config{Verifier: verifier, Store: stores[name](b),
				Handler: func(context.Context, receive.Event) error { return nil }})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				id := fmt.Sprintf("msg_%d", i)
				now := time.Now()
				sig, _ := key.Sign(id, now, []byte(body))
				req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
				req.Header.Set("webhook-signature", sig)
				w := httptest.NewRecorder()
				rcv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
