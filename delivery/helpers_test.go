package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/signing"
	"github.com/herald-webhooks/herald/sqlite"
)

// env is one test's real store, application and engine settings.
type env struct {
	t     *testing.T
	ctx   context.Context
	store *sqlite.Store
	app   *herald.Application
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "test", CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, store: st, app: app}
}

// endpoint stores an endpoint for url with one new secret; opts adjust it.
func (e *env) endpoint(url string, opts ...func(*herald.Endpoint)) *herald.Endpoint {
	e.t.Helper()
	now := time.Now()
	ep := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, now), AppID: e.app.ID, URL: url,
		Secrets: []herald.EndpointSecret{{Key: signing.NewSecret()}}, CreatedAt: now, UpdatedAt: now,
	}
	for _, o := range opts {
		o(ep)
	}
	if err := e.store.EndpointCreate(e.ctx, ep, 0); err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// send stores a message of eventType, fanned out to matching endpoints.
func (e *env) send(eventType string, payload string) *herald.Message {
	e.t.Helper()
	now := time.Now()
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: e.app.ID, EventType: eventType,
		Payload: json.RawMessage(payload), PayloadRetentionDays: 90, CreatedAt: now}
	if _, err := e.store.MessageCreate(e.ctx, m, nil); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// attempts lists the attempts of a message, newest first.
func (e *env) attempts(msgID string) []herald.Attempt {
	e.t.Helper()
	p, err := e.store.AttemptList(e.ctx, e.app.ID, herald.AttemptFilter{MsgID: msgID}, herald.ListParams{Limit: 250})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Items
}

// deliveryStatus returns the status of the message's delivery to ep.
func (e *env) deliveryStatus(msgID, epID string) herald.MessageStatus {
	e.t.Helper()
	p, err := e.store.MessageEndpointList(e.ctx, e.app.ID, msgID, herald.ListParams{Limit: 250})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, me := range p.Items {
		if me.Endpoint.ID == epID {
			return me.Status
		}
	}
	e.t.Fatalf("no delivery of %s to %s", msgID, epID)
	return 0
}

// start runs an engine over the store with loopback allowed, a short
// schedule without jitter, and cfg's other settings; it stops at cleanup.
func (e *env) start(cfg delivery.Config) *delivery.Engine {
	e.t.Helper()
	if cfg.Policy.Schedule == nil {
		cfg.Policy = herald.RetryPolicy{Schedule: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}}
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = egress.NewClient(egress.Config{Timeout: cfg.RequestTimeout, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	}
	cfg.PollInterval = 100 * time.Millisecond
	eng := delivery.New(cfg, e.store)
	if err := eng.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		eng.Stop(ctx)
	})
	return eng
}

// hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver records requests and answers with handle (200 when nil).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	hits    []hit
	active  int
	maxSeen int
}

func newReceiver(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, hit{r.Header.Clone(), body, time.Now()})
		rc.active++
		rc.maxSeen = max(rc.maxSeen, rc.active)
		rc.mu.Unlock()
		defer func() { rc.mu.Lock(); rc.active--; rc.mu.Unlock() }()
		if handle != nil {
			handle(n, w, r)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func (rc *receiver) maxConcurrent() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.maxSeen
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
