package herald

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestEndpointHealthRecord(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		success bool
		at      time.Duration
		event   string
		streak  int
		since   time.Duration // FirstFailureAt - t0; -1: none
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"failing on the fourth failure only", []step{
			{false, 0, "", 1, 0}, {false, 1, "", 2, 0}, {false, 2, "", 3, 0},
			{false, 3, OpMessageAttemptFailing, 4, 0}, {false, 4, "", 5, 0}}},
		{"recovered after failing", []step{
			{false, 0, "", 1, 0}, {false, 1, "", 2, 0}, {false, 2, "", 3, 0},
			{false, 3, OpMessageAttemptFailing, 4, 0}, {true, 4, OpMessageAttemptRecovered, 0, -1},
			{true, 5, "", 0, -1}}},
		{"no recovered after a short streak", []step{{false, 0, "", 1, 0}, {true, 1, "", 0, -1}}},
		{"a gap of more than a day starts a new streak", []step{
			{false, 0, "", 1, 0}, {false, HealthGap + time.Hour, "", 2, HealthGap + time.Hour}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h EndpointHealth
			for i, s := range tc.steps {
				ev := h.Record(s.success, t0.Add(s.at))
				wantSince := time.Time{}
				if s.since >= 0 {
					wantSince = t0.Add(s.since)
				}
				if ev != s.event || h.ConsecutiveFailures != s.streak || !h.FirstFailureAt.Equal(wantSince) {
					t.Fatalf("step %d: event %q streak %d since %v; want %q %d %v", i, ev, h.ConsecutiveFailures,
						h.FirstFailureAt, s.event, s.streak, wantSince)
				}
			}
		})
	}
}

func TestOperationalPayloads(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &Attempt{ID: "atmpt_1", AppID: "app_1", EndpointID: "ep_1", MsgID: "msg_1", ResponseStatusCode: 500, CreatedAt: at}
	got := string(AttemptEventPayload(OpMessageAttemptExhausted, "", "evt-1", a))
	want := `{"type":"message.attempt.exhausted","data":{"appId":"app_1","appUid":null,"endpointId":"ep_1",` +
		`"msgId":"msg_1","msgEventId":"evt-1","lastAttempt":{"id":"atmpt_1","responseStatusCode":500,"timestamp":"2026-01-02T03:04:05Z"}}}`
	if got != want {
		t.Errorf("attempt event:\n got %s\nwant %s", got, want)
	}
	ep := &Endpoint{ID: "ep_1", AppID: "app_1", UID: "billing"}
	var m map[string]any
	if err := json.Unmarshal(EndpointEventPayload(OpEndpointDisabled, "acme", ep, at), &m); err != nil {
		t.Fatal(err)
	}
	d := m["data"].(map[string]any)
	if m["type"] != OpEndpointDisabled || d["appUid"] != "acme" || d["endpointUid"] != "billing" ||
		d["failSince"] != "2026-01-02T03:04:05Z" || d["trigger"] != "automatic" {
		t.Errorf("endpoint.disabled payload: %v", m)
	}
	if err := json.Unmarshal(EndpointEventPayload(OpEndpointEnabled, "", ep, time.Time{}), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["data"].(map[string]any)["failSince"]; ok {
		t.Errorf("endpoint.enabled has failSince: %v", m)
	}
}

func TestEndpointHealthApply(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := func(status MessageStatus, app string) *DeliveryResult {
		return &DeliveryResult{Status: status, Attempt: Attempt{AppID: app, Status: StatusFail, CreatedAt: at}}
	}
	h := &EndpointHealth{}
	for i := 1; i < FailingStreak; i++ {
		if got := h.Apply(fail(StatusPending, "app_1"), "app_op"); len(got) != 0 {
			t.Fatalf("failure %d: events %v, want none", i, got)
		}
	}
	if got := h.Apply(fail(StatusFail, "app_1"), "app_op"); !reflect.DeepEqual(got, []string{OpMessageAttemptFailing, OpMessageAttemptExhausted}) {
		t.Fatalf("streak reached on an exhausted delivery: %v", got)
	}
	if got := h.Apply(fail(StatusFail, "app_op"), "app_op"); got != nil {
		t.Fatalf("result of the operational app: events %v, want none", got)
	}
	if got := h.Apply(fail(StatusFail, "app_1"), ""); got != nil {
		t.Fatalf("no operational endpoints: events %v, want none", got)
	}
	disabled := &EndpointHealth{DisabledAt: at}
	if got := disabled.Apply(fail(StatusFail, "app_1"), "app_op"); got != nil || disabled.ConsecutiveFailures != 0 {
		t.Fatalf("disabled endpoint: events %v, failures %d; want nothing recorded", got, disabled.ConsecutiveFailures)
	}
	notSent := fail(StatusFail, "app_1")
	notSent.NotSent = true
	fresh := &EndpointHealth{}
	if got := fresh.Apply(notSent, "app_op"); got != nil || fresh.ConsecutiveFailures != 0 || !fresh.LastFailureAt.IsZero() {
		t.Fatalf("a result not sent (payload expunged): events %v, health %+v; want nothing recorded", got, fresh)
	}
}
