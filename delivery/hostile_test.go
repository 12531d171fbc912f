package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/internal/testutil/hostile"
	"github.com/herald-webhooks/herald/signing"
)

// hostileTimeout is the request timeout of these tests, and attemptSlack
// what an attempt may take beyond it on a slow, busy machine.
const (
	hostileTimeout = time.Second
	attemptSlack   = 2 * time.Second
)

// hostileCase is one misbehaving receiver and what its attempt must show.
type hostileCase struct {
	name    string
	cfg     hostile.Config
	code    []int  // acceptable responseStatusCode values
	success bool   // the attempt succeeds
	reason  string // in the attempt's response text
}

func hostileCases(redirectTarget string) []hostileCase {
	return []hostileCase{
		{"hang", hostile.Config{Mode: hostile.Hang}, []int{0}, false, "timeout after 1s waiting for the response headers"},
		{"slow headers", hostile.Config{Mode: hostile.SlowHeaders, Interval: 100 * time.Millisecond}, []int{0}, false, "timeout after 1s waiting for the response headers"},
		{"trickle", hostile.Config{Mode: hostile.Trickle}, []int{200}, false, "response body read timed out after 1s (status 200"},
		{"huge body", hostile.Config{Mode: hostile.Huge}, []int{200}, true, "abcdefghij"},
		// The reset may come before or after the status line is read: the
		// attempt fails either way.
		{"reset", hostile.Config{Mode: hostile.Reset}, []int{0, 200}, false, "connection reset by the receiver"},
		{"redirect to a private address", hostile.Config{Mode: hostile.Redirect, Location: "http://10.1.2.3/hook"}, []int{302}, false, "redirect not followed (302 to http://10.1.2.3/hook)"},
		{"redirect to a public address", hostile.Config{Mode: hostile.Redirect, Code: 301, Location: "https://example.com/hook"}, []int{301}, false, "redirect not followed (301 to https://example.com/hook)"},
		{"redirect to a listening receiver", hostile.Config{Mode: hostile.Redirect, Code: 307, Location: redirectTarget}, []int{307}, false, "redirect not followed (307 to " + redirectTarget + ")"},
		{"redirect to a binary location", hostile.Config{Mode: hostile.Redirect, Location: "http://example.com/\xff\xfe"}, []int{302}, false, "redirect not followed (302 to http://example.com/\uFFFD)"},
		{"429 without Retry-After", hostile.Config{Mode: hostile.Status, Code: 429}, []int{429}, false, "status 429"},
		{"429 with Retry-After", hostile.Config{Mode: hostile.Status, Code: 429, Header: http.Header{"Retry-After": {"30"}}}, []int{429}, false, "status 429"},
		{"410 gone", hostile.Config{Mode: hostile.Status, Code: 410}, []int{410}, false, "status 410"},
		{"garbage", hostile.Config{Mode: hostile.Garbage}, []int{0}, false, "invalid HTTP response: malformed HTTP"},
		{"binary garbage", hostile.Config{Mode: hostile.Garbage, Garbage: []byte("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")}, []int{0}, false, `invalid HTTP response: malformed HTTP response "\x16\x03`},
	}
}

// startHostileEngine starts an engine with the short request timeout and a
// client the test can close idle connections of. Failed deliveries are
// tried again only after an hour, so each gets exactly one attempt here.
func startHostileEngine(e *env, cfg delivery.Config) (*delivery.Engine, *http.Client) {
	e.t.Helper()
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = hostileTimeout
	}
	if cfg.Policy.Schedule == nil {
		cfg.Policy = herald.RetryPolicy{Schedule: []time.Duration{time.Hour}}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = egress.NewClient(egress.Config{Timeout: cfg.RequestTimeout, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	}
	return e.start(cfg), cfg.HTTPClient
}

// TestHostileReceivers sends one message to an endpoint of each kind of
// misbehaving receiver at once. Each attempt ends within the request
// timeout, is recorded with its status code and a specific reason as text
// every store keeps, fails (but for a 2xx whose endless body is cut at the
// read limit) and is scheduled again (410 included, as Svix does); no
// redirect is followed; afterwards no delivery is left in flight and the
// goroutines return to their number before.
func TestHostileReceivers(t *testing.T) {
	e := newEnv(t)
	target := hostile.Start(t, hostile.Config{Mode: hostile.Status, Code: 200})
	cases := hostileCases(target.URL)
	eng, client := startHostileEngine(e, delivery.Config{})
	baseline := runtime.NumGoroutine()

	receivers := make([]*hostile.Receiver, len(cases))
	byEndpoint := map[string]int{}
	for i, tc := range cases {
		receivers[i] = hostile.Start(t, tc.cfg)
		byEndpoint[e.endpoint(receivers[i].URL).ID] = i
	}
	m := e.send("a.b", `{"n":1}`)
	waitFor(t, hostileTimeout+10*time.Second, "an attempt per receiver", func() bool { return len(e.attempts(m.ID)) == len(cases) })

	for _, a := range e.attempts(m.ID) {
		i := byEndpoint[a.EndpointID]
		tc := cases[i]
		t.Run(tc.name, func(t *testing.T) {
			checkHostileAttempt(t, tc, a)
			want := herald.StatusPending // tried again on the schedule
			if tc.success {
				want = herald.StatusSuccess
			}
			if s := e.deliveryStatus(m.ID, a.EndpointID); s != want {
				t.Errorf("delivery status %v, want %v", s, want)
			}
		})
	}
	if n := target.Requests(); n != 0 {
		t.Errorf("a redirect was followed: its target got %d requests", n)
	}
	waitFor(t, 5*time.Second, "no delivery in flight", func() bool { return eng.InFlight() == 0 })
	for _, r := range receivers {
		r.Close()
	}
	client.CloseIdleConnections()
	waitFor(t, 5*time.Second, "goroutines back to their number before", func() bool { return runtime.NumGoroutine() <= baseline+3 })
}

// checkHostileAttempt checks an attempt against a hostile receiver: its
// status code, outcome and reason, its text fit for every store, and its
// duration within the request timeout.
func checkHostileAttempt(t *testing.T, tc hostileCase, a herald.Attempt) {
	t.Helper()
	t.Logf("%s: status code %d, %d ms, response %.120q", tc.name, a.ResponseStatusCode, a.ResponseDurationMs, a.Response)
	if !slices.Contains(tc.code, a.ResponseStatusCode) {
		t.Errorf("responseStatusCode %d, want one of %v", a.ResponseStatusCode, tc.code)
	}
	if got := a.Status == herald.StatusSuccess; got != tc.success {
		t.Errorf("attempt status %v, want success %v", a.Status, tc.success)
	}
	if !strings.Contains(a.Response, tc.reason) {
		t.Errorf("response %q does not say %q", a.Response, tc.reason)
	}
	if !utf8.ValidString(a.Response) || strings.ContainsRune(a.Response, 0) || len(a.Response) > 4096 {
		t.Errorf("response is not text every store keeps (%d bytes)", len(a.Response))
	}
	if d := time.Duration(a.ResponseDurationMs) * time.Millisecond; d > hostileTimeout+attemptSlack {
		t.Errorf("attempt took %v, request timeout %v", d, hostileTimeout)
	}
}

// TestHostileReceiversOnPostgres records an attempt against each hostile
// receiver in PostgreSQL, whose text columns refuse what SQLite lets by
// (NUL bytes, invalid UTF-8 in a reason).
func TestHostileReceiversOnPostgres(t *testing.T) {
	st := openShared(t)
	ctx := context.Background()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "hostile", CreatedAt: now, UpdatedAt: now}
	if err := st.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	cases := hostileCases("http://127.0.0.1:1/hook")
	byEndpoint := map[string]hostileCase{}
	for _, tc := range cases {
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, time.Now()), AppID: app.ID, URL: hostile.Start(t, tc.cfg).URL,
			Secrets: []herald.EndpointSecret{{Key: signing.NewSecret()}}, CreatedAt: now, UpdatedAt: now}
		if err := st.EndpointCreate(ctx, ep, 0); err != nil {
			t.Fatal(err)
		}
		byEndpoint[ep.ID] = tc
	}
	eng := delivery.New(delivery.Config{
		RequestTimeout: hostileTimeout,
		PollInterval:   100 * time.Millisecond,
		Policy:         herald.RetryPolicy{Schedule: []time.Duration{time.Hour}},
		HTTPClient:     egress.NewClient(egress.Config{Timeout: hostileTimeout, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}),
	}, st)
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		eng.Stop(stopCtx)
	}()
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "a.b",
		Payload: json.RawMessage(`{}`), PayloadRetentionDays: 90, CreatedAt: now}
	if _, err := st.MessageCreate(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	var attempts []herald.Attempt
	waitFor(t, hostileTimeout+10*time.Second, "an attempt per receiver", func() bool {
		p, err := st.AttemptList(ctx, app.ID, herald.AttemptFilter{MsgID: m.ID}, herald.ListParams{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		attempts = p.Items
		return len(attempts) == len(cases)
	})
	for _, a := range attempts {
		tc := byEndpoint[a.EndpointID]
		t.Run(tc.name, func(t *testing.T) { checkHostileAttempt(t, tc, a) })
	}
	waitFor(t, 5*time.Second, "no delivery in flight", func() bool { return eng.InFlight() == 0 })
}

// TestRetryAfterDelaysTheNextAttempt: a 429 with Retry-After is tried
// again no sooner than asked (and the delivery's next attempt says so);
// without it, on the schedule.
func TestRetryAfterDelaysTheNextAttempt(t *testing.T) {
	e := newEnv(t)
	limited := hostile.Start(t, hostile.Config{Mode: hostile.Status, Code: 429, Header: http.Header{"Retry-After": {"2"}}})
	plain := hostile.Start(t, hostile.Config{Mode: hostile.Status, Code: 429})
	epLimited := e.endpoint(limited.URL, func(ep *herald.Endpoint) { ep.EventTypes = []string{"limited"} })
	epPlain := e.endpoint(plain.URL, func(ep *herald.Endpoint) { ep.EventTypes = []string{"plain"} })
	startHostileEngine(e, delivery.Config{Policy: herald.RetryPolicy{Schedule: []time.Duration{300 * time.Millisecond, time.Hour}}})

	mLimited, mPlain := e.send("limited", `{}`), e.send("plain", `{}`)
	waitFor(t, 10*time.Second, "first attempts", func() bool { return len(e.attempts(mLimited.ID)) >= 1 && len(e.attempts(mPlain.ID)) >= 1 })
	first := e.attempts(mLimited.ID)[0]
	next := nextAttempt(e, mLimited.ID, epLimited.ID)
	if next.IsZero() || next.Sub(first.CreatedAt) < 1900*time.Millisecond {
		t.Errorf("next attempt at +%v after a 429 with Retry-After: 2", next.Sub(first.CreatedAt))
	}
	waitFor(t, 15*time.Second, "second attempts", func() bool { return limited.Requests() == 2 && plain.Requests() == 2 })
	times := limited.RequestTimes()
	if gap := times[1].Sub(times[0]); gap < 1900*time.Millisecond {
		t.Errorf("second attempt came %v after a 429 with Retry-After: 2", gap)
	}
	pt := plain.RequestTimes()
	t.Logf("Retry-After: 2 gap %v; no Retry-After gap %v (schedule 300ms)", times[1].Sub(times[0]), pt[1].Sub(pt[0]))
	if s := e.deliveryStatus(mPlain.ID, epPlain.ID); s != herald.StatusPending {
		t.Errorf("429 without Retry-After: delivery %v, want pending", s)
	}
}

func nextAttempt(e *env, msgID, epID string) time.Time {
	e.t.Helper()
	p, err := e.store.MessageEndpointList(e.ctx, e.app.ID, msgID, herald.ListParams{Limit: 250})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, me := range p.Items {
		if me.Endpoint.ID == epID && me.NextAttemptAt != nil {
			return *me.NextAttemptAt
		}
	}
	return time.Time{}
}

// TestHugeResponseBodyMemoryStaysBounded: a 100 MiB answer is read only up
// to the limit and the connection dropped, so the process allocates a
// small fraction of it.
func TestHugeResponseBodyMemoryStaysBounded(t *testing.T) {
	e := newEnv(t)
	huge := hostile.Start(t, hostile.Config{Mode: hostile.Huge})
	e.endpoint(huge.URL)
	eng, _ := startHostileEngine(e, delivery.Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := e.send("a.b", `{}`)
	waitFor(t, 10*time.Second, "attempt", func() bool { return len(e.attempts(m.ID)) == 1 })
	waitFor(t, 5*time.Second, "no delivery in flight", func() bool { return eng.InFlight() == 0 })
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("100 MiB answer: %d KiB allocated in all, heap in use %d -> %d KiB, %d KiB of the body sent before the sender hung up",
		allocated>>10, before.HeapInuse>>10, after.HeapInuse>>10, huge.BodyBytesSent()>>10)
	if allocated > 16<<20 {
		t.Errorf("%d MiB allocated for an attempt against a 100 MiB body", allocated>>20)
	}
	if a := e.attempts(m.ID)[0]; a.Status != herald.StatusSuccess || len(a.Response) != 4096 {
		t.Errorf("attempt %v with %d bytes of response kept, want success and 4096", a.Status, len(a.Response))
	}
	if huge.BodyBytesSent() >= 100<<20 {
		t.Errorf("the whole body was read")
	}
}

// TestClientWithoutTimeoutStillBoundsTheExchange: with an HTTP client that
// has no timeout of its own, the engine bounds each whole exchange,
// headers and body, by the request timeout.
func TestClientWithoutTimeoutStillBoundsTheExchange(t *testing.T) {
	e := newEnv(t)
	trickle := hostile.Start(t, hostile.Config{Mode: hostile.Trickle, Interval: 100 * time.Millisecond})
	hang := hostile.Start(t, hostile.Config{Mode: hostile.Hang})
	e.endpoint(trickle.URL)
	e.endpoint(hang.URL)
	eng, _ := startHostileEngine(e, delivery.Config{HTTPClient: &http.Client{}})
	m := e.send("a.b", `{}`)
	waitFor(t, hostileTimeout+10*time.Second, "both attempts", func() bool { return len(e.attempts(m.ID)) == 2 })
	for _, a := range e.attempts(m.ID) {
		t.Logf("status code %d, %d ms, %q", a.ResponseStatusCode, a.ResponseDurationMs, a.Response)
		if d := time.Duration(a.ResponseDurationMs) * time.Millisecond; d > hostileTimeout+attemptSlack {
			t.Errorf("attempt took %v, request timeout %v", d, hostileTimeout)
		}
		if a.Status == herald.StatusSuccess || !strings.Contains(a.Response, "after 1s") {
			t.Errorf("attempt %v %q, want a failure by timeout", a.Status, a.Response)
		}
	}
	waitFor(t, 5*time.Second, "no delivery in flight", func() bool { return eng.InFlight() == 0 })
}

// TestHealthyEndpointKeepsItsLatencyAmongHostileOnes: while a dozen
// endpoints hang or trickle every attempt to the request timeout, a
// healthy endpoint's deliveries still go out at once. The bound is loose
// (well under the hostile endpoints' timeout); the numbers are logged.
func TestHealthyEndpointKeepsItsLatencyAmongHostileOnes(t *testing.T) {
	const timeout = 3 * time.Second
	e := newEnv(t)
	var hostiles []*hostile.Receiver
	for i := range 12 {
		mode := hostile.Hang
		if i%2 == 1 {
			mode = hostile.Trickle
		}
		r := hostile.Start(t, hostile.Config{Mode: mode})
		hostiles = append(hostiles, r)
		e.endpoint(r.URL, func(ep *herald.Endpoint) { ep.EventTypes = []string{"hostile"} })
	}
	healthy := newReceiver(t, nil)
	e.endpoint(healthy.URL, func(ep *herald.Endpoint) { ep.EventTypes = []string{"healthy"} })
	eng, client := startHostileEngine(e, delivery.Config{RequestTimeout: timeout, Concurrency: 256, PerEndpoint: 8,
		Policy: herald.RetryPolicy{Schedule: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}}})

	for range 8 {
		e.send("hostile", `{}`)
	}
	waitFor(t, 10*time.Second, "every hostile endpoint busy", func() bool {
		for _, r := range hostiles {
			if r.Requests() < 8 {
				return false
			}
		}
		return true
	})
	// Spread over more than the timeout, so that some go out while the
	// hostile attempts end together and are claimed again.
	const n = 40
	pace := time.NewTicker(timeout / 25)
	defer pace.Stop()
	sent := map[string]time.Time{}
	for range n {
		<-pace.C
		at := time.Now()
		sent[e.send("healthy", `{}`).ID] = at
	}
	waitFor(t, 10*time.Second, "healthy deliveries", func() bool { return len(healthy.got()) == n })
	lat := latencies(healthy.got(), sent)
	held := 0
	for _, r := range hostiles {
		held += int(r.Requests())
	}
	t.Logf("healthy endpoint, %d deliveries beside 12 hanging/trickling endpoints (%d hostile attempts meanwhile): p50 %v, p99 %v, max %v",
		n, held, lat[n/2], lat[n*99/100], lat[n-1])
	if lat[n-1] > timeout/2 { // loose: normally a few milliseconds
		t.Errorf("a healthy delivery took %v, the hostile endpoints' timeout is %v", lat[n-1], timeout)
	}
	for _, r := range hostiles {
		r.Close()
	}
	waitFor(t, 3*timeout+10*time.Second, "no delivery in flight", func() bool { return eng.InFlight() == 0 })
	client.CloseIdleConnections()
}

// latencies returns, sorted, how long after it was sent each message
// reached the receiver (by its webhook-id).
func latencies(hits []hit, sent map[string]time.Time) []time.Duration {
	var lat []time.Duration
	for _, h := range hits {
		lat = append(lat, h.at.Sub(sent[h.header.Get(signing.HeaderID)]))
	}
	slices.Sort(lat)
	return lat
}
