package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/jackc/pgx/v5"
)

// schemaConn opens a connection of its own on schema, closed when t ends.
func schemaConn(t *testing.T, url, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// holdEndpoints locks every endpoint row of schema FOR UPDATE on a
// connection of its own, so that a write that references one (a message's
// deliveries) waits, until t ends. It returns that connection.
func holdEndpoints(t *testing.T, url, schema string) *pgx.Conn {
	t.Helper()
	conn := schemaConn(t, url, schema)
	if _, err := conn.Exec(context.Background(), "BEGIN; SELECT id FROM endpoints FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// terminateBlocked ends, with pg_terminate_backend, the backends that
// holder blocks (as an administrator's command or a shutdown would),
// once there is one.
func terminateBlocked(t *testing.T, holder *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := holder.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE $1 = ANY(pg_blocking_pids(pid))`, holder.PgConn().PID()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no backend waited for the locked endpoints")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWriteTerminatedMidStatement ends the connection of a write batch
// while its statement runs (waiting for a lock), as a fast shutdown or an
// administrator would: the write answers EUnavailable.
func TestWriteTerminatedMidStatement(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	s, err := Open(context.Background(), Config{URL: url, Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := newWorld(t, s, 1)
	holder := holdEndpoints(t, url, schema)
	done := make(chan error, 1)
	go func() {
		_, err := s.MessageCreate(context.Background(), w.newMessage(time.Now(), 0), nil)
		done <- err
	}()
	terminateBlocked(t, holder)
	if err := <-done; herald.ErrorCode(err) != herald.EUnavailable {
		t.Fatalf("MessageCreate whose connection was terminated: %v, want EUnavailable", err)
	}
}

// dieAtCommit makes, in schema, every transaction that inserts a message
// with event type "die" or an application named "die" lose its
// connection while it commits: a deferred trigger terminates its own
// backend, as a crash or a shutdown at that moment would. The client
// cannot tell whether such a commit happened (here it did not).
func dieAtCommit(t *testing.T, url, schema string) {
	t.Helper()
	_, err := schemaConn(t, url, schema).Exec(context.Background(), `CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF to_jsonb(NEW)->>'event_type' = 'die' OR to_jsonb(NEW)->>'name' = 'die' THEN
				PERFORM pg_terminate_backend(pg_backend_pid());
				PERFORM pg_sleep(5);
			END IF;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON messages
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die_at_commit();
		CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON applications
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die_at_commit()`)
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommitLostAnswersError checks the writer's contract when the
// connection fails during a commit, for pipelined batches (messages) and
// transactions (applications): every operation of the batch answers
// EUnavailable, none claims success, and whatever answered success is
// stored.
func TestCommitLostAnswersError(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	s, err := Open(context.Background(), Config{URL: url, Schema: schema, Writers: 1, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := newWorld(t, s, 1)
	dieAtCommit(t, url, schema)
	ctx := context.Background()

	const n = 50
	msgs := make([]*herald.Message, n)
	apps := make([]*herald.Application, n)
	for i := range n {
		msgs[i] = w.newMessage(time.Now(), i)
		now := time.Now()
		apps[i] = &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "app", CreatedAt: now, UpdatedAt: now}
		if i%10 == 5 {
			msgs[i].EventType, apps[i].Name = "die", "die"
		}
	}
	msgErrs, appErrs := make([]error, n), make([]error, n)
	var wg sync.WaitGroup // messages alone first, so that their batches are pipelined
	for i := range n {
		wg.Go(func() { _, msgErrs[i] = s.MessageCreate(ctx, msgs[i], nil) })
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() { appErrs[i] = s.ApplicationCreate(ctx, apps[i]) })
	}
	wg.Wait()
	for i := range n {
		checkOutcome(t, "message", msgs[i].EventType == "die", msgErrs[i], func() error {
			_, err := s.MessageGet(ctx, w.app.ID, msgs[i].ID)
			return err
		})
		checkOutcome(t, "application", apps[i].Name == "die", appErrs[i], func() error {
			_, err := s.ApplicationGet(ctx, apps[i].ID)
			return err
		})
	}
}

// checkOutcome checks one write's answer: EUnavailable if its own commit
// was lost (doomed), else success or EUnavailable (its batch was lost with
// a doomed one); success only if get finds it.
func checkOutcome(t *testing.T, what string, doomed bool, err error, get func() error) {
	t.Helper()
	switch {
	case err != nil && herald.ErrorCode(err) != herald.EUnavailable:
		t.Errorf("%s: %v, want success or EUnavailable", what, err)
	case err == nil && doomed:
		t.Errorf("%s whose commit lost its connection: success, want EUnavailable", what)
	case err == nil:
		if gerr := get(); gerr != nil {
			t.Errorf("%s answered success but is not stored: %v", what, gerr)
		}
	}
}
