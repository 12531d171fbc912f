package delivery_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/signing"
)

func TestDeliverySignedAndRecorded(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	ep := e.endpoint(rc.URL, func(ep *herald.Endpoint) {
		ep.Headers = map[string]string{"X-Tenant": "acme", "Content-Type": "text/plain", "Webhook-Id": "forged"}
	})
	e.start(delivery.Config{})
	payload := `{"type":"a.b",  "data":{"x":1}}`
	m := e.send("a.b", payload)
	waitFor(t, 5*time.Second, "success", func() bool { return len(e.attempts(m.ID)) == 1 })

	h := rc.got()[0]
	if string(h.body) != payload {
		t.Errorf("body %q, want %q byte for byte", h.body, payload)
	}
	if h.header.Get("X-Tenant") != "acme" || h.header.Get("Content-Type") != "application/json" || h.header.Get("webhook-id") != m.ID {
		t.Errorf("headers: %v", h.header)
	}
	if _, sent := h.header["Idempotency-Key"]; sent {
		t.Errorf("an Idempotency-Key header was sent: %v", h.header)
	}
	wh, _ := standardwebhooks.NewWebhook(ep.Secrets[0].Key)
	if err := wh.Verify(h.body, h.header); err != nil {
		t.Errorf("reference library: %v", err)
	}
	a := e.attempts(m.ID)[0]
	if a.Status != herald.StatusSuccess || a.ResponseStatusCode != 200 || a.Response != "ok" || a.URL != rc.URL || a.Trigger != herald.TriggerScheduled {
		t.Errorf("attempt %+v", a)
	}
	if s := e.deliveryStatus(m.ID, ep.ID); s != herald.StatusSuccess {
		t.Errorf("delivery status %v", s)
	}
}

func TestRotationAndEd25519Signatures(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	later := time.Now().Add(time.Hour)
	expired := time.Now().Add(-time.Hour)
	oldKey, newKey, goneKey := signing.NewSecret(), signing.NewSecret(), signing.NewSecret()
	e.endpoint(rc.URL+"/hmac", func(ep *herald.Endpoint) {
		ep.Secrets = []herald.EndpointSecret{{Key: newKey}, {Key: oldKey, ExpiresAt: &later}, {Key: goneKey, ExpiresAt: &expired}}
	})
	sk, pk := signing.NewKeyPair()
	e.endpoint(rc.URL+"/ed", func(ep *herald.Endpoint) { ep.Secrets = []herald.EndpointSecret{{Key: sk}} })
	e.start(delivery.Config{})
	e.send("a.b", `{"n":1}`)
	waitFor(t, 5*time.Second, "both deliveries", func() bool { return len(rc.got()) == 2 })
	for _, h := range rc.got() {
		sigs := h.header.Get("webhook-signature")
		if strings.HasPrefix(sigs, "v1a,") {
			k, _ := signing.ParseKey(pk)
			if err := signing.Verify(k, h.header.Get("webhook-id"), h.header.Get("webhook-timestamp"), sigs, h.body, time.Now(), signing.DefaultTolerance); err != nil {
				t.Errorf("ed25519 signature: %v", err)
			}
			continue
		}
		if n := len(strings.Fields(sigs)); n != 2 {
			t.Errorf("%d signatures during rotation, want 2 (expired one dropped): %q", n, sigs)
		}
		for _, key := range []string{newKey, oldKey} {
			wh, _ := standardwebhooks.NewWebhook(key)
			if err := wh.Verify(h.body, h.header); err != nil {
				t.Errorf("key %.12s: %v", key, err)
			}
		}
		wh, _ := standardwebhooks.NewWebhook(goneKey)
		if wh.Verify(h.body, h.header) == nil {
			t.Errorf("expired secret still signs")
		}
	}
}

func TestRetryScheduleThenFail(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	ep := e.endpoint(rc.URL)
	e.start(delivery.Config{Policy: herald.RetryPolicy{Schedule: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}}})
	m := e.send("a.b", `{}`)
	waitFor(t, 5*time.Second, "delivery failed", func() bool { return e.deliveryStatus(m.ID, ep.ID) == herald.StatusFail })
	hits := rc.got()
	if len(hits) != 3 || len(e.attempts(m.ID)) != 3 {
		t.Fatalf("%d requests, %d attempts; want 3", len(hits), len(e.attempts(m.ID)))
	}
	if g := hits[1].at.Sub(hits[0].at); g < 90*time.Millisecond {
		t.Errorf("first retry after %v, want ≥100ms", g)
	}
	if g := hits[2].at.Sub(hits[1].at); g < 190*time.Millisecond {
		t.Errorf("second retry after %v, want ≥200ms", g)
	}
}

func TestRedirectIsFailureNotFollowed(t *testing.T) {
	e := newEnv(t)
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	ep := e.endpoint(rc.URL)
	e.start(delivery.Config{Policy: herald.RetryPolicy{Schedule: []time.Duration{}}})
	m := e.send("a.b", `{}`)
	waitFor(t, 5*time.Second, "failed delivery", func() bool { return e.deliveryStatus(m.ID, ep.ID) == herald.StatusFail })
	if a := e.attempts(m.ID); len(a) != 1 || a[0].ResponseStatusCode != 307 || a[0].Status != herald.StatusFail {
		t.Errorf("attempts %+v", a)
	}
	if len(target.got()) != 0 {
		t.Errorf("redirect was followed")
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(200)
	})
	e.endpoint(rc.URL)
	e.start(delivery.Config{})
	m := e.send("a.b", `{}`)
	waitFor(t, 5*time.Second, "second attempt", func() bool { return len(e.attempts(m.ID)) == 2 })
	hits := rc.got()
	if g := hits[1].at.Sub(hits[0].at); g < 950*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", g)
	}
}

func TestTimeoutAndBlockedRecorded(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ep := e.endpoint(rc.URL)
	e.start(delivery.Config{RequestTimeout: 300 * time.Millisecond, Policy: herald.RetryPolicy{Schedule: []time.Duration{}}})
	m := e.send("a.b", `{}`)
	waitFor(t, 5*time.Second, "timed-out attempt", func() bool { return e.deliveryStatus(m.ID, ep.ID) == herald.StatusFail })
	a := e.attempts(m.ID)[0]
	if a.ResponseStatusCode != 0 || !strings.Contains(a.Response, "timeout") {
		t.Errorf("timeout attempt %+v", a)
	}

	// The default client (no allow-list) refuses loopback.
	e2 := newEnv(t)
	rc2 := newReceiver(t, nil)
	ep2 := e2.endpoint(rc2.URL)
	eng := delivery.New(delivery.Config{Policy: herald.RetryPolicy{Schedule: []time.Duration{}}, PollInterval: 50 * time.Millisecond}, e2.store)
	if err := eng.Start(e2.ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(context.Background())
	m2 := e2.send("a.b", `{}`)
	waitFor(t, 5*time.Second, "blocked attempt", func() bool { return e2.deliveryStatus(m2.ID, ep2.ID) == herald.StatusFail })
	b := e2.attempts(m2.ID)[0]
	if b.ResponseStatusCode != 0 || !strings.Contains(b.Response, "blocked: loopback") || len(rc2.got()) != 0 {
		t.Errorf("blocked attempt %+v, receiver hits %d", b, len(rc2.got()))
	}
}
