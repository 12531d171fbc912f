package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var healthTests = []test{
	{"EndpointHealthBookkeeping", testEndpointHealthBookkeeping},
	{"EndpointHealthGap", testEndpointHealthGap},
	{"EndpointAutoDisable", testEndpointAutoDisable},
	{"EndpointReenableClearsHealth", testEndpointReenableClearsHealth},
	{"OperationalEvents", testOperationalEvents},
	{"OperationalNoLoop", testOperationalNoLoop},
	{"OperationalAppHidden", testOperationalAppHidden},
}

// attemptOnce sends one message to every endpoint of appID, claims it at
// now and completes each delivery with status (StatusSuccess, or a
// failure that is retried unless status is StatusFail).
func (f *fixture) attemptOnce(appID string, status herald.MessageStatus, now time.Time) []herald.DeliveryResult {
	f.t.Helper()
	f.message(appID)
	var results []herald.DeliveryResult
	for _, j := range f.claimAll(now) {
		if j.Delivery.AppID != appID {
			continue
		}
		code := 200
		if status != herald.StatusSuccess {
			code = 500
		}
		r := result(j, status, code, now)
		if status == herald.StatusPending { // not due again during the test
			r.NextAttemptAt = now.Add(1000 * time.Hour)
		}
		results = append(results, r)
	}
	must(f.t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
	return results
}

func (f *fixture) health(endpointID string) herald.EndpointHealth {
	f.t.Helper()
	h, err := f.s.EndpointHealthGet(f.ctx, endpointID)
	must(f.t, err, "EndpointHealthGet")
	return h
}

func testEndpointHealthBookkeeping(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID)
	if h := f.health(e.ID); h.ConsecutiveFailures != 0 || !h.FirstFailureAt.IsZero() || !h.LastSuccessAt.IsZero() {
		t.Fatalf("health before any attempt: %+v", h)
	}
	f.attemptOnce(a.ID, herald.StatusSuccess, at(10_000))
	f.attemptOnce(a.ID, herald.StatusPending, at(20_000))
	f.attemptOnce(a.ID, herald.StatusPending, at(30_000))
	h := f.health(e.ID)
	checkFields(t, "health after a success and two failures",
		field{"ConsecutiveFailures", h.ConsecutiveFailures, 2}, field{"FirstFailureAt", h.FirstFailureAt, at(20_000)},
		field{"LastFailureAt", h.LastFailureAt, at(30_000)}, field{"LastSuccessAt", h.LastSuccessAt, at(10_000)})
	f.attemptOnce(a.ID, herald.StatusSuccess, at(40_000))
	h = f.health(e.ID)
	checkFields(t, "health after a success again",
		field{"ConsecutiveFailures", h.ConsecutiveFailures, 0}, field{"FirstFailureAt", h.FirstFailureAt, time.Time{}},
		field{"LastFailureAt", h.LastFailureAt, at(30_000)}, field{"LastSuccessAt", h.LastSuccessAt, at(40_000)})
}

// testEndpointHealthGap checks that failures further apart than
// herald.HealthGap start a new streak.
func testEndpointHealthGap(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID)
	first := at(1_000)
	f.attemptOnce(a.ID, herald.StatusPending, first)
	later := first.Add(herald.HealthGap + time.Hour)
	f.attemptOnce(a.ID, herald.StatusPending, later)
	h := f.health(e.ID)
	checkFields(t, "health after a gap", field{"FirstFailureAt", h.FirstFailureAt, later},
		field{"ConsecutiveFailures", h.ConsecutiveFailures, 2})
}

func testEndpointAutoDisable(t *testing.T, f *fixture) {
	a := f.app()
	failing := f.endpoint(a.ID)
	f.attemptOnce(a.ID, herald.StatusPending, at(1_000))
	healthy := f.endpoint(a.ID) // created after: only its own attempts count
	f.attemptOnce(a.ID, herald.StatusPending, at(50_000))
	if h := f.health(healthy.ID); h.ConsecutiveFailures != 1 {
		t.Fatalf("second endpoint's failures: %d, want 1", h.ConsecutiveFailures)
	}
	now := at(100_000)
	// One fails since 1s, the other since 50s: FailingSince 40s keeps the
	// first, provided its last failure (50s) is after FailedAfter.
	none, err := f.s.EndpointAutoDisable(f.ctx, herald.AutoDisableParams{Now: now, FailingSince: at(40_000), FailedAfter: at(60_000), Limit: 10})
	must(t, err, "EndpointAutoDisable")
	if len(none) != 0 {
		t.Fatalf("disabled %d endpoints whose last failure is too old", len(none))
	}
	got, err := f.s.EndpointAutoDisable(f.ctx, herald.AutoDisableParams{Now: now, FailingSince: at(40_000), FailedAfter: at(10_000), Limit: 10})
	must(t, err, "EndpointAutoDisable")
	if len(got) != 1 || got[0].ID != failing.ID || !got[0].Disabled {
		t.Fatalf("disabled %v, want only %s", keys(got, func(e herald.Endpoint) string { return e.ID }), failing.ID)
	}
	ep, err := f.s.EndpointGet(f.ctx, a.ID, failing.ID)
	must(t, err, "EndpointGet")
	if !ep.Disabled || ep.DisabledAt == nil || !ep.DisabledAt.Equal(now) || !strings.Contains(ep.DisabledReason, "failed") {
		t.Fatalf("disabled endpoint: disabled %v at %v reason %q", ep.Disabled, ep.DisabledAt, ep.DisabledReason)
	}
	page, err := f.s.EndpointList(f.ctx, a.ID, herald.ListParams{Limit: 10})
	must(t, err, "EndpointList")
	for _, e := range page.Items {
		if (e.ID == failing.ID) != (e.DisabledAt != nil) {
			t.Errorf("listed endpoint %s: disabled %v at %v", e.ID, e.Disabled, e.DisabledAt)
		}
	}
	again, err := f.s.EndpointAutoDisable(f.ctx, herald.AutoDisableParams{Now: now, FailingSince: now, FailedAfter: at(0), Limit: 10})
	must(t, err, "EndpointAutoDisable again")
	if len(again) != 1 || again[0].ID != healthy.ID {
		t.Fatalf("second run disabled %v, want only %s", keys(again, func(e herald.Endpoint) string { return e.ID }), healthy.ID)
	}
	if h := f.health(failing.ID); !h.DisabledAt.Equal(now) || h.DisabledReason == "" {
		t.Fatalf("health of the disabled endpoint: %+v", h)
	}
}

func testEndpointReenableClearsHealth(t *testing.T, f *fixture) {
	a := f.app()
	e := f.endpoint(a.ID)
	f.attemptOnce(a.ID, herald.StatusPending, at(1_000))
	_, err := f.s.EndpointAutoDisable(f.ctx, herald.AutoDisableParams{Now: at(5_000), FailingSince: at(2_000), FailedAfter: at(0), Limit: 10})
	must(t, err, "EndpointAutoDisable")
	ep, err := f.s.EndpointGet(f.ctx, a.ID, e.ID)
	must(t, err, "EndpointGet")
	ep.Disabled, ep.DisabledAt, ep.DisabledReason, ep.UpdatedAt = false, nil, "", at(6_000)
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate")
	ep, err = f.s.EndpointGet(f.ctx, a.ID, e.ID)
	must(t, err, "EndpointGet")
	if ep.Disabled || ep.DisabledAt != nil || ep.DisabledReason != "" {
		t.Fatalf("re-enabled endpoint: disabled %v at %v reason %q", ep.Disabled, ep.DisabledAt, ep.DisabledReason)
	}
	if h := f.health(e.ID); h.ConsecutiveFailures != 0 || !h.FirstFailureAt.IsZero() || !h.DisabledAt.IsZero() {
		t.Fatalf("health after re-enabling: %+v", h)
	}
	// Disabling through an update records when, as a manual disable.
	ep.Disabled, ep.UpdatedAt = true, at(7_000)
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate")
	ep, err = f.s.EndpointGet(f.ctx, a.ID, e.ID)
	must(t, err, "EndpointGet")
	if ep.DisabledAt == nil || !ep.DisabledAt.Equal(at(7_000)) || ep.DisabledReason != herald.DisabledReasonManual {
		t.Fatalf("manually disabled endpoint: at %v reason %q", ep.DisabledAt, ep.DisabledReason)
	}
}

// operationalApp makes the operational application with one endpoint for
// every operational event type.
func (f *fixture) operationalApp() *herald.Application {
	op := f.app(func(a *herald.Application) { a.UID = herald.OperationalAppUID })
	f.endpoint(op.ID, func(e *herald.Endpoint) { e.URL = "https://ops.example.com/hook" })
	return op
}

// opEvents returns the types and payloads of the operational messages,
// oldest first.
func (f *fixture) opEvents(opAppID string) ([]string, []map[string]any) {
	f.t.Helper()
	page, err := f.s.MessageList(f.ctx, opAppID, herald.MessageFilter{}, herald.ListParams{Limit: 100, Ascending: true})
	must(f.t, err, "MessageList")
	var types []string
	var payloads []map[string]any
	for _, m := range page.Items {
		var p map[string]any
		must(f.t, json.Unmarshal(m.Payload, &p), "operational payload")
		if p["type"] != m.EventType {
			f.t.Errorf("operational message of type %s has payload type %v", m.EventType, p["type"])
		}
		types = append(types, m.EventType)
		payloads = append(payloads, p["data"].(map[string]any))
	}
	return types, payloads
}

func testOperationalEvents(t *testing.T, f *fixture) {
	op := f.operationalApp()
	a := f.app(func(a *herald.Application) { a.UID = "customer" })
	e := f.endpoint(a.ID)
	var failures []herald.DeliveryResult
	for i := range herald.FailingStreak + 1 {
		failures = append(failures, f.attemptOnce(a.ID, herald.StatusPending, at(1_000*(i+1)))...)
	}
	last := f.attemptOnce(a.ID, herald.StatusFail, at(10_000))
	f.attemptOnce(a.ID, herald.StatusSuccess, at(11_000))
	f.attemptOnce(a.ID, herald.StatusSuccess, at(12_000))
	types, data := f.opEvents(op.ID)
	want := []string{herald.OpMessageAttemptFailing, herald.OpMessageAttemptExhausted, herald.OpMessageAttemptRecovered}
	if !slices.Equal(types, want) {
		t.Fatalf("operational events %v, want %v", types, want)
	}
	fourth := failures[herald.FailingStreak-1].Attempt
	checkFields(t, "failing event", field{"appId", data[0]["appId"], a.ID}, field{"appUid", data[0]["appUid"], "customer"},
		field{"endpointId", data[0]["endpointId"], e.ID}, field{"msgId", data[0]["msgId"], fourth.MsgID},
		field{"lastAttempt.id", data[0]["lastAttempt"].(map[string]any)["id"], fourth.ID})
	checkFields(t, "exhausted event", field{"msgId", data[1]["msgId"], last[0].Attempt.MsgID},
		field{"lastAttempt.responseStatusCode", data[1]["lastAttempt"].(map[string]any)["responseStatusCode"], float64(500)})
	// Every operational message goes to the operational endpoint.
	// Every operational message goes to the operational endpoint, due
	// when it was emitted (the store's clock).
	var opJobs int
	for _, j := range f.claimAll(time.Now().Add(time.Minute)) {
		if j.Delivery.AppID == op.ID {
			opJobs++
		}
	}
	if opJobs != 3 {
		t.Fatalf("claimed %d operational deliveries, want 3", opJobs)
	}

	// Auto-disable emits endpoint.disabled, re-enabling endpoint.enabled.
	f.attemptOnce(a.ID, herald.StatusPending, at(30_000))
	_, err := f.s.EndpointAutoDisable(f.ctx, herald.AutoDisableParams{Now: at(40_000), FailingSince: at(35_000), FailedAfter: at(0), Limit: 10})
	must(t, err, "EndpointAutoDisable")
	ep, err := f.s.EndpointGet(f.ctx, a.ID, e.ID)
	must(t, err, "EndpointGet")
	ep.Disabled, ep.UpdatedAt = false, at(50_000)
	must(t, f.s.EndpointUpdate(f.ctx, ep), "EndpointUpdate")
	types, data = f.opEvents(op.ID)
	if !slices.Equal(types[3:], []string{herald.OpEndpointDisabled, herald.OpEndpointEnabled}) {
		t.Fatalf("operational events %v, want endpoint.disabled then endpoint.enabled last", types)
	}
	checkFields(t, "disabled event", field{"endpointId", data[3]["endpointId"], e.ID},
		field{"failSince", data[3]["failSince"], at(30_000).Format(time.RFC3339Nano)},
		field{"trigger", data[3]["trigger"], "automatic"}, field{"enabled endpointId", data[4]["endpointId"], e.ID})
}

// testOperationalNoLoop checks that the operational application's own
// endpoints cause no operational events.
func testOperationalNoLoop(t *testing.T, f *fixture) {
	op := f.operationalApp()
	// An event to deliver, from a customer endpoint's exhausted delivery.
	a := f.app()
	customer := f.endpoint(a.ID)
	f.attemptOnce(a.ID, herald.StatusFail, at(1_000))
	for i := range herald.FailingStreak + 1 {
		now := at(2_000 + 1_000*i)
		var results []herald.DeliveryResult
		for _, j := range f.claimAll(now) {
			results = append(results, result(j, herald.StatusFail, 500, now))
		}
		must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
		f.message(op.ID, func(m *herald.Message) {
			m.EventType = herald.OpMessageAttemptExhausted
			m.Payload = json.RawMessage(`{"type":"message.attempt.exhausted","data":{}}`)
		})
	}
	_, err := f.s.EndpointAutoDisable(f.ctx, herald.AutoDisableParams{Now: at(20_000), FailingSince: at(20_000), FailedAfter: at(0), Limit: 10})
	must(t, err, "EndpointAutoDisable")
	// Both endpoints are disabled; only the customer's is an event.
	types, data := f.opEvents(op.ID)
	if n := len(types); n != 1+herald.FailingStreak+2 || types[n-1] != herald.OpEndpointDisabled ||
		data[n-1]["endpointId"] != customer.ID {
		t.Fatalf("operational messages %v, want the first event, the test's own and the customer endpoint disabled", types)
	}
}

func testOperationalAppHidden(t *testing.T, f *fixture) {
	f.operationalApp()
	a := f.app()
	page, err := f.s.ApplicationList(f.ctx, herald.ListParams{Limit: 10})
	must(t, err, "ApplicationList")
	if ids := keys(page.Items, func(x herald.Application) string { return x.ID }); !slices.Equal(ids, []string{a.ID}) {
		t.Fatalf("ApplicationList = %v, want only %s", ids, a.ID)
	}
}
