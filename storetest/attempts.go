package storetest

import (
	"slices"
	"testing"

	"github.com/herald-webhooks/herald"
)

var attemptTests = []test{
	{"AttemptGet", testAttemptGet},
	{"AttemptListFilters", testAttemptListFilters},
	{"AttemptList", testAttemptList},
	{"AttemptExpungeContent", testAttemptExpungeContent},
}

// attemptWorld is an application with two endpoints, messages of several
// types and channels, and attempts with several outcomes.
type attemptWorld struct {
	app      *herald.Application
	e1, e2   *herald.Endpoint
	msgs     []*herald.Message
	attempts []herald.Attempt // in creation order
}

// buildAttempts makes every message's deliveries go through the rounds of
// status codes given, one attempt per delivery and round.
func buildAttempts(t *testing.T, f *fixture) *attemptWorld {
	w := &attemptWorld{app: f.app()}
	w.e1, w.e2 = f.endpoint(w.app.ID), f.endpoint(w.app.ID)
	f.endpoint(f.app().ID)
	for _, spec := range []struct {
		typ      string
		channels []string
	}{{"invoice.paid", []string{"c1"}}, {"user.created", nil}, {"invoice.paid", []string{"c2", "c1"}}} {
		m, _ := f.message(w.app.ID, func(m *herald.Message) { m.EventType, m.Channels = spec.typ, spec.channels })
		w.msgs = append(w.msgs, m)
	}
	// Round 1: e1 gets 500s, e2 timeouts (0); round 2: e1 200, e2 404.
	codes := map[string][]int{w.e1.ID: {500, 200}, w.e2.ID: {0, 404}}
	now := 100_000
	for round := range 2 {
		jobs := f.claimAll(at(now))
		slices.SortFunc(jobs, func(x, y herald.DeliveryJob) int {
			if c := compareStrings(x.Message.ID, y.Message.ID); c != 0 {
				return c
			}
			return compareStrings(x.Endpoint.ID, y.Endpoint.ID)
		})
		var results []herald.DeliveryResult
		for _, j := range jobs {
			now += 10
			code := codes[j.Endpoint.ID][round]
			status := herald.StatusSuccess
			if code < 200 || code > 299 {
				status = herald.StatusPending
			}
			r := result(j, status, code, at(now))
			r.NextAttemptAt = at(now)
			results = append(results, r)
			w.attempts = append(w.attempts, r.Attempt)
		}
		must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
		now += 1_000
	}
	return w
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ids returns the IDs of the attempts keep selects, newest first.
func (w *attemptWorld) ids(keep func(a herald.Attempt) bool) []string {
	var out []string
	for _, a := range w.attempts {
		if keep(a) {
			out = append(out, a.ID)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

func testAttemptGet(t *testing.T, f *fixture) {
	w := buildAttempts(t, f)
	for _, want := range w.attempts {
		got, err := f.s.AttemptGet(f.ctx, w.app.ID, want.MsgID, want.ID)
		must(t, err, "AttemptGet")
		checkAttempt(t, got, &want)
	}
	a := w.attempts[0]
	_, err := f.s.AttemptGet(f.ctx, w.app.ID, w.msgs[1].ID, a.ID)
	if a.MsgID != w.msgs[1].ID {
		wantCode(t, err, herald.ENotFound, "AttemptGet under another message")
	}
	_, err = f.s.AttemptGet(f.ctx, f.app().ID, a.MsgID, a.ID)
	wantCode(t, err, herald.ENotFound, "AttemptGet in another application")
	_, err = f.s.AttemptGet(f.ctx, w.app.ID, a.MsgID, "atmpt_missing")
	wantCode(t, err, herald.ENotFound, "AttemptGet unknown")
}

func testAttemptListFilters(t *testing.T, f *fixture) {
	w := buildAttempts(t, f)
	if len(w.attempts) != 12 {
		t.Fatalf("%d attempts made, want 12", len(w.attempts))
	}
	mid := w.attempts[5].CreatedAt
	m0, m1 := w.msgs[0].ID, w.msgs[1].ID
	tests := []struct {
		name string
		f    herald.AttemptFilter
		keep func(a herald.Attempt) bool
	}{
		{"none", herald.AttemptFilter{}, func(herald.Attempt) bool { return true }},
		{"message", herald.AttemptFilter{MsgID: m1}, func(a herald.Attempt) bool { return a.MsgID == m1 }},
		{"endpoint", herald.AttemptFilter{EndpointID: w.e2.ID}, func(a herald.Attempt) bool { return a.EndpointID == w.e2.ID }},
		{"message and endpoint", herald.AttemptFilter{MsgID: m0, EndpointID: w.e1.ID},
			func(a herald.Attempt) bool { return a.MsgID == m0 && a.EndpointID == w.e1.ID }},
		{"success", herald.AttemptFilter{Status: ptr(herald.StatusSuccess)},
			func(a herald.Attempt) bool { return a.Status == herald.StatusSuccess }},
		{"fail", herald.AttemptFilter{Status: ptr(herald.StatusFail)}, func(a herald.Attempt) bool { return a.Status == herald.StatusFail }},
		{"class 0", herald.AttemptFilter{StatusCodeClass: ptr(0)}, func(a herald.Attempt) bool { return a.ResponseStatusCode == 0 }},
		{"class 200", herald.AttemptFilter{StatusCodeClass: ptr(200)}, func(a herald.Attempt) bool { return a.ResponseStatusCode == 200 }},
		{"class 400", herald.AttemptFilter{StatusCodeClass: ptr(400)}, func(a herald.Attempt) bool { return a.ResponseStatusCode == 404 }},
		{"class 500", herald.AttemptFilter{StatusCodeClass: ptr(500)}, func(a herald.Attempt) bool { return a.ResponseStatusCode == 500 }},
		{"class 300", herald.AttemptFilter{StatusCodeClass: ptr(300)}, func(herald.Attempt) bool { return false }},
		{"event type", herald.AttemptFilter{MessageFilter: herald.MessageFilter{EventTypes: []string{"user.created"}}},
			func(a herald.Attempt) bool { return a.MsgID == m1 }},
		{"channel", herald.AttemptFilter{MessageFilter: herald.MessageFilter{Channel: "c1"}},
			func(a herald.Attempt) bool { return a.MsgID != m1 }},
		{"channel c2", herald.AttemptFilter{MessageFilter: herald.MessageFilter{Channel: "c2"}},
			func(a herald.Attempt) bool { return a.MsgID == w.msgs[2].ID }},
		{"before", herald.AttemptFilter{MessageFilter: herald.MessageFilter{Before: &mid}},
			func(a herald.Attempt) bool { return a.CreatedAt.Before(mid) }},
		{"after", herald.AttemptFilter{MessageFilter: herald.MessageFilter{After: &mid}},
			func(a herald.Attempt) bool { return a.CreatedAt.After(mid) }},
		{"combined", herald.AttemptFilter{EndpointID: w.e1.ID, StatusCodeClass: ptr(500),
			MessageFilter: herald.MessageFilter{EventTypes: []string{"invoice.paid"}}},
			func(a herald.Attempt) bool {
				return a.EndpointID == w.e1.ID && a.ResponseStatusCode == 500 && a.MsgID != m1
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := func(p herald.ListParams) (herald.Page[herald.Attempt], error) {
				return f.s.AttemptList(f.ctx, w.app.ID, tc.f, p)
			}
			checkPaging(t, w.ids(tc.keep), 3, false, list, func(a herald.Attempt) string { return a.ID })
		})
	}
}

func testAttemptList(t *testing.T, f *fixture) {
	w := buildAttempts(t, f)
	list := func(p herald.ListParams) (herald.Page[herald.Attempt], error) {
		return f.s.AttemptList(f.ctx, w.app.ID, herald.AttemptFilter{}, p)
	}
	page, err := list(herald.ListParams{Limit: 1})
	must(t, err, "AttemptList")
	checkAttempt(t, &page.Items[0], &w.attempts[len(w.attempts)-1])
	all := w.ids(func(herald.Attempt) bool { return true })
	checkPaging(t, all, 5, false, list, func(a herald.Attempt) string { return a.ID })
	checkPaging(t, all, 12, false, list, func(a herald.Attempt) string { return a.ID })
	_, err = f.s.AttemptList(f.ctx, "app_missing", herald.AttemptFilter{}, herald.ListParams{Limit: 10})
	wantCode(t, err, herald.ENotFound, "AttemptList unknown application")
}

func testAttemptExpungeContent(t *testing.T, f *fixture) {
	w := buildAttempts(t, f)
	a := w.attempts[3]
	wantCode(t, f.s.AttemptExpungeContent(f.ctx, w.app.ID, a.MsgID, "atmpt_missing"), herald.ENotFound, "AttemptExpungeContent unknown")
	wantCode(t, f.s.AttemptExpungeContent(f.ctx, f.app().ID, a.MsgID, a.ID), herald.ENotFound, "AttemptExpungeContent in another application")
	must(t, f.s.AttemptExpungeContent(f.ctx, w.app.ID, a.MsgID, a.ID), "AttemptExpungeContent")
	got, err := f.s.AttemptGet(f.ctx, w.app.ID, a.MsgID, a.ID)
	must(t, err, "AttemptGet")
	want := a
	want.Response = ""
	checkAttempt(t, got, &want)
	got, err = f.s.AttemptGet(f.ctx, w.app.ID, w.attempts[4].MsgID, w.attempts[4].ID)
	must(t, err, "AttemptGet other")
	checkAttempt(t, got, &w.attempts[4])
}

var viewTests = []test{
	{"EndpointMessageList", testEndpointMessageList},
	{"MessageEndpointList", testMessageEndpointList},
}

// buildEndpointMessages makes six messages, five of which go to endpoint
// e: 0 and 3 delivered, 1 retried at 500s, 4 and 5 pending as created.
func buildEndpointMessages(t *testing.T, f *fixture) (*herald.Application, *herald.Endpoint, []*herald.Message) {
	a := f.app()
	e := f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"invoice.paid", "user.created"} })
	f.endpoint(a.ID)
	var msgs []*herald.Message
	for i, typ := range []string{"invoice.paid", "user.created", "other", "invoice.paid", "user.created", "invoice.paid"} {
		m, _ := f.message(a.ID, func(m *herald.Message) {
			m.EventType = typ
			if i%2 == 0 {
				m.Channels = []string{"even"}
			}
		})
		msgs = append(msgs, m)
	}
	// Deliveries to e: msgs 0,1,3,4,5. 0 and 3 succeed, 1 is retried at
	// 500s, 4 and 5 stay pending as created.
	var results []herald.DeliveryResult
	for _, j := range f.claimAll(at(100)) {
		if j.Endpoint.ID != e.ID {
			continue
		}
		switch j.Message.ID {
		case msgs[0].ID, msgs[3].ID:
			results = append(results, result(j, herald.StatusSuccess, 200, at(200)))
		case msgs[1].ID:
			r := result(j, herald.StatusPending, 500, at(200))
			r.NextAttemptAt = at(500_000)
			results = append(results, r)
		}
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
	_, err := f.s.DeliveryRescue(f.ctx, at(1_000_000_000), at(300))
	must(t, err, "DeliveryRescue")
	return a, e, msgs
}

func testEndpointMessageList(t *testing.T, f *fixture) {
	a, e, msgs := buildEndpointMessages(t, f)
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, msgs[i].ID)
		}
		slices.Sort(out)
		slices.Reverse(out)
		return out
	}
	t3 := msgs[3].CreatedAt
	tests := []struct {
		name   string
		f      herald.MessageFilter
		status *herald.MessageStatus
		want   []string
	}{
		{"all", herald.MessageFilter{}, nil, pick(0, 1, 3, 4, 5)},
		{"success", herald.MessageFilter{}, ptr(herald.StatusSuccess), pick(0, 3)},
		{"pending", herald.MessageFilter{}, ptr(herald.StatusPending), pick(1, 4, 5)},
		{"fail", herald.MessageFilter{}, ptr(herald.StatusFail), nil},
		{"type", herald.MessageFilter{EventTypes: []string{"user.created"}}, nil, pick(1, 4)},
		{"channel", herald.MessageFilter{Channel: "even"}, nil, pick(0, 4)},
		{"before", herald.MessageFilter{Before: &t3}, nil, pick(0, 1)},
		{"after", herald.MessageFilter{After: &t3}, nil, pick(4, 5)},
		{"combined", herald.MessageFilter{EventTypes: []string{"invoice.paid"}, After: ptr(msgs[0].CreatedAt)}, ptr(herald.StatusPending), pick(5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := func(p herald.ListParams) (herald.Page[herald.EndpointMessage], error) {
				return f.s.EndpointMessageList(f.ctx, a.ID, e.ID, tc.f, tc.status, p)
			}
			checkPaging(t, tc.want, 2, false, list, func(em herald.EndpointMessage) string { return em.Message.ID })
		})
	}
	page, err := f.s.EndpointMessageList(f.ctx, a.ID, e.ID, herald.MessageFilter{}, nil, herald.ListParams{Limit: 10})
	must(t, err, "EndpointMessageList")
	for _, em := range page.Items {
		for i, m := range msgs {
			if m.ID != em.Message.ID {
				continue
			}
			checkMessage(t, &em.Message, m)
			switch {
			case i == 1 && (em.NextAttemptAt == nil || !em.NextAttemptAt.Equal(at(500_000))):
				t.Errorf("retried message: NextAttemptAt %v, want %v", show(em.NextAttemptAt), at(500_000))
			case (i == 0 || i == 3) && em.NextAttemptAt != nil:
				t.Errorf("delivered message %d: NextAttemptAt %v, want none", i, *em.NextAttemptAt)
			}
		}
	}
	_, err = f.s.EndpointMessageList(f.ctx, a.ID, "ep_missing", herald.MessageFilter{}, nil, herald.ListParams{Limit: 10})
	wantCode(t, err, herald.ENotFound, "EndpointMessageList unknown endpoint")
}

func testMessageEndpointList(t *testing.T, f *fixture) {
	a := f.app()
	var eps []*herald.Endpoint
	for range 7 {
		eps = append(eps, f.endpoint(a.ID))
	}
	f.endpoint(a.ID, func(e *herald.Endpoint) { e.EventTypes = []string{"not.this"} })
	m, _ := f.message(a.ID)
	jobs := f.claimAll(at(1_000_000))
	var results []herald.DeliveryResult
	for _, j := range jobs {
		if j.Endpoint.ID == eps[0].ID {
			results = append(results, result(j, herald.StatusSuccess, 200, at(1_000_001)))
		}
		if j.Endpoint.ID == eps[1].ID {
			r := result(j, herald.StatusFail, 500, at(1_000_001))
			results = append(results, r)
		}
	}
	must(t, f.s.DeliveryComplete(f.ctx, results), "DeliveryComplete")
	var ids []string
	for _, e := range eps {
		ids = append(ids, e.ID)
	}
	list := func(p herald.ListParams) (herald.Page[herald.MessageEndpoint], error) {
		return f.s.MessageEndpointList(f.ctx, a.ID, m.ID, p)
	}
	key := func(me herald.MessageEndpoint) string { return me.Endpoint.ID }
	checkPaging(t, ids, 3, true, list, key)
	checkPaging(t, reversed(ids), 3, false, list, key)
	page, err := list(herald.ListParams{Limit: 10, Ascending: true})
	must(t, err, "MessageEndpointList")
	wantStatus := []herald.MessageStatus{herald.StatusSuccess, herald.StatusFail, herald.StatusSending}
	for i, me := range page.Items {
		checkEndpoint(t, &me.Endpoint, eps[i])
		want := herald.StatusSending
		if i < len(wantStatus) {
			want = wantStatus[i]
		}
		if me.Status != want {
			t.Errorf("endpoint %d: status %v, want %v", i, me.Status, want)
		}
	}
	_, err = f.s.MessageEndpointList(f.ctx, a.ID, "msg_missing", herald.ListParams{Limit: 10})
	wantCode(t, err, herald.ENotFound, "MessageEndpointList unknown message")
	_, err = f.s.MessageEndpointList(f.ctx, f.app().ID, m.ID, herald.ListParams{Limit: 10})
	wantCode(t, err, herald.ENotFound, "MessageEndpointList in another application")
}
