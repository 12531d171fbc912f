package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/receive"
	"github.com/herald-webhooks/herald/signing"
)

// TestReceiveKitE2E proves a real Herald delivery passes the receive
// middleware configured with the endpoint's secret from the API (HMAC, and
// an ed25519 endpoint's public key): the handler sees the body byte for
// byte and the message id; its failure makes Herald retry and the retry
// runs it; a resend of the processed message is answered 200 without
// running it again.
func TestReceiveKitE2E(t *testing.T) {
	s := startServer(t)
	secretKey, _ := signing.NewKeyPair()
	for _, tc := range []struct {
		name   string
		fields map[string]any
	}{
		{"hmac", map[string]any{}},
		{"ed25519", map[string]any{"secret": secretKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := s.createApp(t, "receive-kit-"+tc.name)
			var mu sync.Mutex
			var got []receive.Event
			handler := func(_ context.Context, ev receive.Event) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, ev)
				if len(got) == 1 {
					return errors.New("first run fails")
				}
				return nil
			}
			var mw atomic.Pointer[receive.Receiver]
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mw.Load().ServeHTTP(w, r) }))
			t.Cleanup(srv.Close)

			tc.fields["url"] = srv.URL + "/webhooks"
			ep, secret := s.createEndpoint(t, app, tc.fields)
			v, err := signing.NewStandardVerifier(secret)
			if err != nil {
				t.Fatalf("verifier for the API's secret %.5s...: %v", secret, err)
			}
			rcv, err := receive.New(receive.Config{Verifier: v, Handler: handler})
			if err != nil {
				t.Fatal(err)
			}
			mw.Store(rcv)

			payload := `{"type": "invoice.paid",  "amount": 4200}`
			msgID := str(s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", `{"eventType":"invoice.paid","payload":`+payload+`}`), "id")
			attempts := func() []map[string]any {
				return items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID, nil))
			}
			waitFor(t, 10*time.Second, "a failed attempt, then a successful retry", func() bool { return len(attempts()) == 2 })
			s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg/"+msgID+"/endpoint/"+ep+"/resend", nil)
			codes := map[float64]int{}
			waitFor(t, 10*time.Second, "the resend's attempt answered", func() bool {
				clear(codes)
				list := attempts() // one reading: the counts and the length agree
				for _, a := range list {
					codes[a["responseStatusCode"].(float64)]++
				}
				return len(list) == 3 && codes[0] == 0
			})
			if codes[500] != 1 || codes[200] != 2 {
				t.Errorf("attempt status codes %v, want one 500 and two 200", codes)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 {
				t.Fatalf("handler ran %d times, want 2 (the failure and its retry; not the resend)", len(got))
			}
			for _, ev := range got {
				if ev.ID != msgID || string(ev.Body) != payload {
					t.Errorf("handler got id %q body %s; want %q %s", ev.ID, ev.Body, msgID, payload)
				}
			}
		})
	}
}
