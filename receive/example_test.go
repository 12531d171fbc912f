package receive_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/receive"
	"github.com/herald-webhooks/herald/signing"
)

// post sends body to url as a Standard Webhooks delivery signed with
// secret, as Herald does, and returns the status.
func post(url, secret, msgID, body string) int {
	key, _ := signing.ParseKey(secret)
	now := time.Now()
	sig, _ := key.Sign(msgID, now, []byte(body))
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A receiver that verifies Standard Webhooks signatures and runs its
// handler once per event id.
func ExampleNew() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	verifier, err := signing.NewStandardVerifier(secret)
	if err != nil {
		panic(err)
	}
	rcv, err := receive.New(receive.Config{
		Verifier: verifier,
		Handler: func(ctx context.Context, ev receive.Event) error {
			fmt.Printf("handling %s: %s\n", ev.ID, ev.Body)
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks", rcv)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	fmt.Println(post(srv.URL+"/webhooks", secret, "msg_1", `{"type":"invoice.paid"}`))
	fmt.Println(post(srv.URL+"/webhooks", secret, "msg_1", `{"type":"invoice.paid"}`)) // a retry: not handled again
	fmt.Println(post(srv.URL+"/webhooks", "whsec_"+"c2VjcmV0LW9mLXNvbWVvbmUtZWxzZQ==", "msg_2", `{}`))
	// Output:
	// handling msg_1: {"type":"invoice.paid"}
	// 200
	// 200
	// 401
}

// A SQL store shares the deduplication between receiver instances and
// keeps it across restarts; here on SQLite.
func ExampleNewSQLStore() {
	dir, _ := os.MkdirTemp("", "receive-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "receiver.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, err := receive.NewSQLStore(db, receive.SQLConfig{Dialect: receive.SQLite})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	res, _ := store.Claim(ctx, "msg_1", "token-a", time.Now().Add(time.Minute))
	fmt.Println(res)
	res, _ = store.Claim(ctx, "msg_1", "token-b", time.Now().Add(time.Minute))
	fmt.Println(res)
	store.Complete(ctx, "msg_1")
	res, _ = store.Claim(ctx, "msg_1", "token-c", time.Now().Add(time.Minute))
	fmt.Println(res)
	// Output:
	// claimed
	// in_progress
	// completed
}

// The asynchronous mode answers 202 once the event is queued and runs the
// handler in the background, with retries, between Start and Stop.
func ExampleReceiver_Start() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	verifier, _ := signing.NewStandardVerifier(secret)
	done := make(chan struct{})
	rcv, err := receive.New(receive.Config{
		Verifier: verifier,
		Store:    receive.NewMemoryStore(receive.MemoryConfig{}), // a SQLStore survives restarts
		Async:    &receive.AsyncConfig{MaxAttempts: 5, MinBackoff: 10 * time.Millisecond},
		Handler: func(ctx context.Context, ev receive.Event) error {
			if ev.Attempt == 1 {
				return fmt.Errorf("the database is busy") // retried after MinBackoff
			}
			fmt.Printf("attempt %d handled %s\n", ev.Attempt, ev.ID)
			close(done)
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	if err := rcv.Start(context.Background()); err != nil {
		panic(err)
	}
	defer rcv.Stop(context.Background())
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	fmt.Println(post(srv.URL, secret, "msg_1", `{"type":"report.requested"}`))
	<-done
	// Output:
	// 202
	// attempt 2 handled msg_1
}
