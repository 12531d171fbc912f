package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald"
)

var messageTests = []test{
	{"MessageCreateGet", testMessageCreateGet},
	{"MessageEventIDConflict", testMessageEventIDConflict},
	{"MessageList", testMessageList},
	{"MessageListFilters", testMessageListFilters},
	{"MessageExpungeContent", testMessageExpungeContent},
}

func testMessageCreateGet(t *testing.T, f *fixture) {
	a := f.app()
	// The payload is kept byte for byte: spacing, key order, escapes.
	payload := json.RawMessage("{\"z\": 1,  \"a\" : [1, 2.50, \"\\u00e9\"],\n\t\"nested\": {\"b\": null}}")
	m, ds := f.message(a.ID, func(m *herald.Message) {
		m.EventID = "evt-1"
		m.Channels = []string{"project_1", "eu:west"}
		m.Payload = payload
		m.PayloadRetentionDays = 30
	})
	if len(ds) != 0 {
		t.Fatalf("%d deliveries for an application without endpoints", len(ds))
	}
	for _, key := range []string{m.ID, "evt-1"} {
		got, err := f.s.MessageGet(f.ctx, a.ID, key)
		must(t, err, "MessageGet "+key)
		checkMessage(t, got, m)
	}
	plain, _ := f.message(a.ID)
	got, err := f.s.MessageGet(f.ctx, a.ID, plain.ID)
	must(t, err, "MessageGet plain")
	checkMessage(t, got, plain)
	_, err = f.s.MessageGet(f.ctx, f.app().ID, m.ID)
	wantCode(t, err, herald.ENotFound, "MessageGet in another application")
	_, err = f.s.MessageGet(f.ctx, a.ID, "msg_missing")
	wantCode(t, err, herald.ENotFound, "MessageGet unknown")
	_, err = f.s.MessageCreate(f.ctx, f.newMessage("app_missing"), nil)
	wantCode(t, err, herald.ENotFound, "MessageCreate in unknown application")
}

func testMessageEventIDConflict(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	f.endpoint(a.ID)
	first, _ := f.message(a.ID, func(m *herald.Message) { m.EventID = "once" })
	_, err := f.s.MessageCreate(f.ctx, f.newMessage(a.ID, func(m *herald.Message) { m.EventID = "once" }), nil)
	wantCode(t, err, herald.EConflict, "MessageCreate reused eventId")
	// The failed message left nothing behind: one message, one delivery.
	page, err := f.s.MessageList(f.ctx, a.ID, herald.MessageFilter{}, herald.ListParams{Limit: 10})
	must(t, err, "MessageList")
	if len(page.Items) != 1 || page.Items[0].ID != first.ID {
		t.Fatalf("messages %v, want only %s", keys(page.Items, func(m herald.Message) string { return m.ID }), first.ID)
	}
	if jobs := f.claimAll(at(1_000_000)); len(jobs) != 1 {
		t.Fatalf("%d deliveries claimed, want 1", len(jobs))
	}
	// Another application may use the same eventId.
	f.message(b.ID, func(m *herald.Message) { m.EventID = "once" })
}

func testMessageList(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	var ids []string
	for i := range 8 {
		m, _ := f.message(a.ID)
		ids = append(ids, m.ID)
		if i%2 == 0 {
			f.message(b.ID)
		}
	}
	list := func(p herald.ListParams) (herald.Page[herald.Message], error) {
		return f.s.MessageList(f.ctx, a.ID, herald.MessageFilter{}, p)
	}
	key := func(m herald.Message) string { return m.ID }
	// Newest first.
	checkPaging(t, reversed(ids), 3, false, list, key)
	checkPaging(t, reversed(ids), 8, false, list, key)
	page, err := list(herald.ListParams{Limit: 1})
	must(t, err, "MessageList")
	want, _ := f.s.MessageGet(f.ctx, a.ID, ids[len(ids)-1])
	checkMessage(t, &page.Items[0], want)
	_, err = f.s.MessageList(f.ctx, "app_missing", herald.MessageFilter{}, herald.ListParams{Limit: 10})
	wantCode(t, err, herald.ENotFound, "MessageList unknown application")
}

func testMessageListFilters(t *testing.T, f *fixture) {
	a := f.app()
	type spec struct {
		typ      string
		channels []string
	}
	specs := []spec{
		{"invoice.paid", nil},
		{"invoice.paid", []string{"c1"}},
		{"user.created", []string{"c1", "c2"}},
		{"user.deleted", []string{"c2"}},
		{"invoice.paid", []string{"c3"}},
		{"user.created", nil},
	}
	var msgs []*herald.Message
	for _, sp := range specs {
		m, _ := f.message(a.ID, func(m *herald.Message) { m.EventType, m.Channels = sp.typ, sp.channels })
		msgs = append(msgs, m)
	}
	// pick returns the IDs of the messages with these indexes, newest first.
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, msgs[i].ID)
		}
		slices.Sort(out)
		slices.Reverse(out)
		return out
	}
	t2, t4 := msgs[2].CreatedAt, msgs[4].CreatedAt
	tests := []struct {
		name string
		f    herald.MessageFilter
		want []string
	}{
		{"none", herald.MessageFilter{}, pick(0, 1, 2, 3, 4, 5)},
		{"one type", herald.MessageFilter{EventTypes: []string{"invoice.paid"}}, pick(0, 1, 4)},
		{"two types", herald.MessageFilter{EventTypes: []string{"user.created", "user.deleted"}}, pick(2, 3, 5)},
		{"unknown type", herald.MessageFilter{EventTypes: []string{"nope"}}, nil},
		{"channel", herald.MessageFilter{Channel: "c1"}, pick(1, 2)},
		{"channel c2", herald.MessageFilter{Channel: "c2"}, pick(2, 3)},
		{"channel prefix is not a match", herald.MessageFilter{Channel: "c"}, nil},
		{"before", herald.MessageFilter{Before: &t2}, pick(0, 1)},
		{"after", herald.MessageFilter{After: &t2}, pick(3, 4, 5)},
		{"between", herald.MessageFilter{After: &t2, Before: &t4}, pick(3)},
		{"type and channel", herald.MessageFilter{EventTypes: []string{"invoice.paid"}, Channel: "c1"}, pick(1)},
		{"everything", herald.MessageFilter{EventTypes: []string{"user.created"}, Channel: "c2", After: ptr(at(0)), Before: &t4}, pick(2)},
	}
	for _, tc := range tests {
		list := func(p herald.ListParams) (herald.Page[herald.Message], error) {
			return f.s.MessageList(f.ctx, a.ID, tc.f, p)
		}
		t.Run(tc.name, func(t *testing.T) {
			checkPaging(t, tc.want, 2, false, list, func(m herald.Message) string { return m.ID })
		})
	}
}

func testMessageExpungeContent(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(a.ID)
	m, _ := f.message(a.ID, func(m *herald.Message) { m.EventID = "e1"; m.Channels = []string{"c"} })
	other, _ := f.message(a.ID)
	wantCode(t, f.s.MessageExpungeContent(f.ctx, f.app().ID, m.ID), herald.ENotFound, "MessageExpungeContent in another application")
	must(t, f.s.MessageExpungeContent(f.ctx, a.ID, m.ID), "MessageExpungeContent")
	got, err := f.s.MessageGet(f.ctx, a.ID, m.ID)
	must(t, err, "MessageGet")
	want := *m
	want.Payload = nil
	checkMessage(t, got, &want)
	got, err = f.s.MessageGet(f.ctx, a.ID, other.ID)
	must(t, err, "MessageGet other")
	checkMessage(t, got, other)
	for _, job := range f.claimAll(at(1_000_000)) {
		if job.Message.ID == m.ID && job.Message.Payload != nil {
			t.Fatalf("claimed job carries expunged payload %q", job.Message.Payload)
		}
	}
	wantCode(t, f.s.MessageExpungeContent(f.ctx, a.ID, "msg_missing"), herald.ENotFound, "MessageExpungeContent unknown")
}

var fanOutTests = []test{
	{"FanOutRules", testFanOutRules},
	{"FanOutOnly", testFanOutOnly},
	{"FanOutDeliveries", testFanOutDeliveries},
}

func testFanOutRules(t *testing.T, f *fixture) {
	a := f.app()
	f.endpoint(f.app().ID) // another application's endpoint never receives
	eps := map[string]*herald.Endpoint{
		"all":        f.endpoint(a.ID),
		"invoice":    f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"invoice.paid"} }),
		"user":       f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"user.created", "user.deleted"} }),
		"c1":         f.endpoint(a.ID, func(e *herald.Endpoint) { e.Channels = []string{"c1"} }),
		"c2c3":       f.endpoint(a.ID, func(e *herald.Endpoint) { e.Channels = []string{"c2", "c3"} }),
		"invoice+c1": f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"invoice.paid"}; e.Channels = []string{"c1"} }),
		"disabled":   f.endpoint(a.ID, func(e *herald.Endpoint) { e.Disabled = true }),
	}
	tests := []struct {
		typ      string
		channels []string
		want     []string
	}{
		{"invoice.paid", nil, []string{"all", "invoice"}},
		{"invoice.paid", []string{"c1"}, []string{"all", "invoice", "c1", "invoice+c1"}},
		{"user.deleted", []string{"c3"}, []string{"all", "user", "c2c3"}},
		{"user.created", []string{"c9", "c2", "c1"}, []string{"all", "user", "c1", "c2c3"}},
		{"other.type", []string{"c2"}, []string{"all", "c2c3"}},
	}
	for _, tc := range tests {
		m, ds := f.message(a.ID, func(m *herald.Message) { m.EventType, m.Channels = tc.typ, tc.channels })
		var want, got []string
		for _, name := range tc.want {
			want = append(want, eps[name].ID)
		}
		for _, d := range ds {
			got = append(got, d.EndpointID)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("message %s %v went to %v, want %v", tc.typ, tc.channels, names(eps, got), tc.want)
		}
		page, err := f.s.MessageEndpointList(f.ctx, a.ID, m.ID, herald.ListParams{Limit: 50, Ascending: true})
		must(t, err, "MessageEndpointList")
		if stored := keys(page.Items, func(me herald.MessageEndpoint) string { return me.Endpoint.ID }); !slices.Equal(stored, want) {
			t.Errorf("message %s %v has stored deliveries to %v, want %v", tc.typ, tc.channels, names(eps, stored), tc.want)
		}
	}
}

// names maps endpoint IDs back to the test's names for messages.
func names(eps map[string]*herald.Endpoint, ids []string) string {
	var out []string
	for _, id := range ids {
		for name, e := range eps {
			if e.ID == id {
				out = append(out, name)
			}
		}
	}
	return strings.Join(out, ",")
}

func testFanOutOnly(t *testing.T, f *fixture) {
	a := f.app()
	foreign := f.endpoint(f.app().ID)
	all := f.endpoint(a.ID)
	filtered := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"something.else"} })
	disabled := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Disabled = true })
	only := []string{filtered.ID, disabled.ID, foreign.ID, "ep_missing"}
	_, ds, err := createOnly(f, a.ID, only)
	must(t, err, "MessageCreate only")
	got := keys(ds, func(d herald.Delivery) string { return d.EndpointID })
	want := []string{filtered.ID, disabled.ID}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("only %v went to %v, want %v (not %s)", only, got, want, all.ID)
	}
	_, ds, err = createOnly(f, a.ID, []string{})
	must(t, err, "MessageCreate only none")
	if len(ds) != 0 {
		t.Fatalf("empty non-nil only made %d deliveries", len(ds))
	}
	_, ds, err = createOnly(f, a.ID, []string{foreign.ID})
	must(t, err, "MessageCreate only foreign")
	if len(ds) != 0 {
		t.Fatalf("only another application's endpoint made %d deliveries", len(ds))
	}
	if jobs := f.claimAll(at(1_000_000)); len(jobs) != 2 {
		t.Fatalf("%d deliveries stored, want 2", len(jobs))
	}
}

func createOnly(f *fixture, appID string, only []string) (*herald.Message, []herald.Delivery, error) {
	m := f.newMessage(appID)
	ds, err := f.s.MessageCreate(f.ctx, m, only)
	return m, ds, err
}

func testFanOutDeliveries(t *testing.T, f *fixture) {
	a := f.app()
	e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
	m, ds := f.message(a.ID)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want 2", len(ds))
	}
	seen := map[string]bool{}
	for _, d := range ds {
		if !strings.HasPrefix(d.ID, herald.PrefixDelivery) || seen[d.ID] {
			t.Errorf("delivery ID %q: want a new %s ID", d.ID, herald.PrefixDelivery)
		}
		seen[d.ID] = true
		checkFields(t, "delivery "+d.ID,
			field{"AppID", d.AppID, a.ID}, field{"MsgID", d.MsgID, m.ID}, field{"Status", d.Status, herald.StatusPending},
			field{"Attempts", d.Attempts, 0}, field{"NextAttemptAt", d.NextAttemptAt, m.CreatedAt},
			field{"Trigger", d.Trigger, herald.TriggerScheduled})
		if d.EndpointID != e1.ID && d.EndpointID != e2.ID {
			t.Errorf("delivery to unknown endpoint %s", d.EndpointID)
		}
	}
	// The stored rows are the returned ones.
	jobs := f.claimAll(m.CreatedAt)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d at the message's time, want 2", len(jobs))
	}
	for _, j := range jobs {
		if !seen[j.Delivery.ID] {
			t.Errorf("claimed delivery %s was not returned by MessageCreate", j.Delivery.ID)
		}
	}
}
