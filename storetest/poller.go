package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

var pollTests = []test{
	{"PollPagesInOrder", testPollPagesInOrder},
	{"PollFilters", testPollFilters},
	{"PollSeek", testPollSeek},
	{"PollConsumers", testPollConsumers},
	{"PollWhileWriting", testPollWhileWriting},
}

// pollAll reads the application's stream after pos in pages of limit
// until a page is done, and returns the IDs read and the final position.
func (f *fixture) pollAll(appID string, p herald.PollParams) ([]string, herald.PollPosition) {
	f.t.Helper()
	var ids []string
	for range 10000 {
		page, err := f.s.MessagePoll(f.ctx, appID, p)
		must(f.t, err, "MessagePoll")
		if len(page.Messages) > p.Limit {
			f.t.Fatalf("page of %d messages, limit %d", len(page.Messages), p.Limit)
		}
		if page.Next.Less(p.After) {
			f.t.Fatalf("Next %v is before After %v", page.Next, p.After)
		}
		ids = append(ids, keys(page.Messages, func(m herald.Message) string { return m.ID })...)
		p.After = page.Next
		if page.Done {
			return ids, p.After
		}
	}
	f.t.Fatal("poll never done")
	return nil, p.After
}

// readUntil reads the stream like pollAll, again and again, until it has
// read the message last (or gives up after a deadline). A store may make
// a committed message readable a little later (the PostgreSQL store waits
// for older transactions to end), never out of order.
func (f *fixture) readUntil(appID string, p herald.PollParams, last string) ([]string, herald.PollPosition) {
	f.t.Helper()
	var ids []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got, next := f.pollAll(appID, p)
		ids, p.After = append(ids, got...), next
		if slices.Contains(ids, last) || time.Now().After(deadline) {
			return ids, p.After
		}
	}
}

func testPollPagesInOrder(t *testing.T, f *fixture) {
	a, other := f.app(), f.app()
	var want []string
	for range 5 { // one at a time: commit order is creation order
		m, _ := f.message(a.ID)
		want = append(want, m.ID)
	}
	f.message(other.ID)
	got, end := f.readUntil(a.ID, herald.PollParams{Limit: 2}, want[4])
	if !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// Nothing more after the end, and the message itself is whole.
	page, err := f.s.MessagePoll(f.ctx, a.ID, herald.PollParams{After: end, Limit: 10})
	must(t, err, "MessagePoll at the end")
	if len(page.Messages) != 0 || !page.Done || page.Next != end {
		t.Fatalf("poll at the end: %d messages, done %v, next %v (end %v)", len(page.Messages), page.Done, page.Next, end)
	}
	first, err := f.s.MessagePoll(f.ctx, a.ID, herald.PollParams{Limit: 1})
	must(t, err, "MessagePoll first")
	stored, err := f.s.MessageGet(f.ctx, a.ID, want[0])
	must(t, err, "MessageGet")
	checkMessage(t, &first.Messages[0], stored)
	if first.Done {
		t.Fatal("first page of one reports done with four more")
	}
	// Messages written together, then later ones: each read exactly once,
	// the later ones after the earlier ones.
	batch := make([]*herald.Message, 6)
	for i := range batch {
		batch[i] = f.newMessage(a.ID)
	}
	f.createAll(batch)
	later, _ := f.message(a.ID)
	got, _ = f.readUntil(a.ID, herald.PollParams{After: end, Limit: 4}, later.ID)
	wantBatch := keys(batch, func(m *herald.Message) string { return m.ID })
	if len(got) != 7 || got[6] != later.ID || !sameSet(got[:6], wantBatch) {
		t.Fatalf("after the end read %v, want %v then %s", got, wantBatch, later.ID)
	}
	_, err = f.s.MessagePoll(f.ctx, "app_missing", herald.PollParams{Limit: 1})
	wantCode(t, err, herald.ENotFound, "MessagePoll unknown application")
}

// sameSet reports whether a and b hold the same strings, each once.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y) && len(slices.Compact(x)) == len(a)
}

func testPollFilters(t *testing.T, f *fixture) {
	a := f.app()
	mk := func(eventType string, channels ...string) string {
		m, _ := f.message(a.ID, func(m *herald.Message) { m.EventType, m.Channels = eventType, channels })
		return m.ID
	}
	paid := mk("invoice.paid", "eu")
	created := mk("invoice.created", "us")
	paidUS := mk("invoice.paid", "us", "eu:west")
	refund := mk("refund", "eu")
	plain := mk("invoice.paid")
	f.readUntil(a.ID, herald.PollParams{Limit: 10}, plain)
	for _, tc := range []struct {
		name string
		p    herald.PollParams
		want []string
	}{
		{"none", herald.PollParams{}, []string{paid, created, paidUS, refund, plain}},
		{"sink types", herald.PollParams{EventTypes: []string{"invoice.paid", "refund"}}, []string{paid, paidUS, refund, plain}},
		{"sink channels", herald.PollParams{Channels: []string{"us", "eu:west"}}, []string{created, paidUS}},
		{"sink both", herald.PollParams{EventTypes: []string{"invoice.paid"}, Channels: []string{"eu"}}, []string{paid}},
		{"type", herald.PollParams{EventType: "invoice.created"}, []string{created}},
		{"channel", herald.PollParams{Channel: "eu"}, []string{paid, refund}},
		{"sink and type", herald.PollParams{EventTypes: []string{"refund"}, EventType: "invoice.paid"}, nil},
		{"sink and channel", herald.PollParams{EventTypes: []string{"invoice.paid"}, Channel: "us"}, []string{paidUS}},
	} {
		for _, limit := range []int{1, 2, 10} {
			tc.p.Limit = limit
			got, end := f.pollAll(a.ID, tc.p)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s, limit %d: read %v, want %v", tc.name, limit, got, tc.want)
			}
			// A filtered read ends past the messages it left out.
			if rest, _ := f.pollAll(a.ID, herald.PollParams{After: end, Limit: 10}); len(rest) != 0 {
				t.Errorf("%s, limit %d: %v left after the end of a filtered read", tc.name, limit, rest)
			}
		}
	}
}

func testPollSeek(t *testing.T, f *fixture) {
	a := f.app()
	pos, err := f.s.MessagePollSeek(f.ctx, a.ID, at(0))
	must(t, err, "MessagePollSeek without messages")
	var ms []*herald.Message
	for range 4 {
		m, _ := f.message(a.ID)
		ms = append(ms, m)
	}
	ids := keys(ms, func(m *herald.Message) string { return m.ID })
	// A position taken before any message exists reads them all.
	if got, _ := f.readUntil(a.ID, herald.PollParams{After: pos, Limit: 3}, ids[3]); !slices.Equal(got, ids) {
		t.Fatalf("from the seek of an empty stream read %v, want %v", got, ids)
	}
	for i, m := range ms {
		for _, tc := range []struct {
			t    time.Time
			from int
		}{{m.CreatedAt.Add(-time.Microsecond), i}, {m.CreatedAt.Add(time.Microsecond), i + 1}} {
			pos, err := f.s.MessagePollSeek(f.ctx, a.ID, tc.t)
			must(t, err, "MessagePollSeek")
			got, _ := f.pollAll(a.ID, herald.PollParams{After: pos, Limit: 2})
			checkSeek(t, got, ids, tc.from)
		}
	}
	// Past the end: nothing now, and the next message.
	pos, err = f.s.MessagePollSeek(f.ctx, a.ID, at(1_000_000))
	must(t, err, "MessagePollSeek past the end")
	got, _ := f.pollAll(a.ID, herald.PollParams{After: pos, Limit: 2})
	checkSeek(t, got, ids, len(ids))
	next, _ := f.message(a.ID, func(m *herald.Message) {
		m.CreatedAt = at(1_000_001)
		m.ID = herald.NewID(herald.PrefixMessage, m.CreatedAt)
	})
	got, _ = f.readUntil(a.ID, herald.PollParams{After: pos, Limit: 2}, next.ID)
	checkSeek(t, got, append(ids, next.ID), len(ids))
	_, err = f.s.MessagePollSeek(f.ctx, "app_missing", at(0))
	wantCode(t, err, herald.ENotFound, "MessagePollSeek unknown application")
}

// checkSeek checks what a read from a seek returned: every message of ids
// from from on, in order, after at most a few of those before from (a
// store may start a little early, never late).
func checkSeek(t *testing.T, got, ids []string, from int) {
	t.Helper()
	want := ids[from:]
	extra := len(got) - len(want)
	if extra < 0 || !slices.Equal(got[extra:], want) || !slices.Equal(got[:extra], ids[from-extra:from]) {
		t.Errorf("read from a seek %v, want %v, maybe after some of %v", got, want, ids[:from])
	}
}

func testPollConsumers(t *testing.T, f *fixture) {
	a, b := f.app(), f.app()
	ep, other, epB := f.endpoint(a.ID), f.endpoint(a.ID), f.endpoint(b.ID)
	_, err := f.s.PollConsumerGet(f.ctx, a.ID, ep.ID, "worker")
	wantCode(t, err, herald.ENotFound, "PollConsumerGet before set")
	c := &herald.PollConsumer{AppID: a.ID, EndpointID: ep.ID, ConsumerID: "worker",
		Position: herald.PollPosition{Seq: 7, MsgID: "msg_x"}, UpdatedAt: f.tick()}
	must(t, f.s.PollConsumerSet(f.ctx, c), "PollConsumerSet")
	checkConsumer(t, f, c)
	c.Position, c.UpdatedAt = herald.PollPosition{Seq: 3, MsgID: "msg_a"}, f.tick() // back, as a seek does
	must(t, f.s.PollConsumerSet(f.ctx, c), "PollConsumerSet again")
	checkConsumer(t, f, c)
	// Consumers are per endpoint and per name.
	for _, key := range [][2]string{{other.ID, "worker"}, {ep.ID, "other"}} {
		_, err = f.s.PollConsumerGet(f.ctx, a.ID, key[0], key[1])
		wantCode(t, err, herald.ENotFound, "PollConsumerGet "+key[0]+"/"+key[1])
	}
	_, err = f.s.PollConsumerGet(f.ctx, b.ID, ep.ID, "worker")
	wantCode(t, err, herald.ENotFound, "PollConsumerGet in another application")
	err = f.s.PollConsumerSet(f.ctx, &herald.PollConsumer{AppID: a.ID, EndpointID: epB.ID, ConsumerID: "w", UpdatedAt: f.tick()})
	wantCode(t, err, herald.ENotFound, "PollConsumerSet with another application's endpoint")
	// Consumers go with their endpoint.
	must(t, f.s.EndpointDelete(f.ctx, a.ID, ep.ID), "EndpointDelete")
	_, err = f.s.PollConsumerGet(f.ctx, a.ID, ep.ID, "worker")
	wantCode(t, err, herald.ENotFound, "PollConsumerGet after its endpoint was deleted")
	f.reopen()
	c.EndpointID = other.ID
	must(t, f.s.PollConsumerSet(f.ctx, c), "PollConsumerSet after reopen")
	checkConsumer(t, f, c)
}

func checkConsumer(t *testing.T, f *fixture, want *herald.PollConsumer) {
	t.Helper()
	got, err := f.s.PollConsumerGet(f.ctx, want.AppID, want.EndpointID, want.ConsumerID)
	must(t, err, "PollConsumerGet")
	checkFields(t, "consumer", field{"Position", got.Position, want.Position}, field{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		field{"AppID", got.AppID, want.AppID}, field{"EndpointID", got.EndpointID, want.EndpointID})
}

// testPollWhileWriting reads the stream while several writers add to it:
// the reader ends up with every message exactly once.
func testPollWhileWriting(t *testing.T, f *fixture) {
	a := f.app()
	const writers, each = 4, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	var written []string
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				now := time.Now()
				m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: a.ID, EventType: "e",
					Payload: []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)), PayloadRetentionDays: 90, CreatedAt: now}
				if _, err := f.s.MessageCreate(f.ctx, m, nil); err != nil {
					t.Errorf("MessageCreate: %v", err)
					return
				}
				mu.Lock()
				written = append(written, m.ID)
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	var read []string
	var pos herald.PollPosition
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // one more read after the last write
		default:
		}
		ids, next := f.pollAll(a.ID, herald.PollParams{After: pos, Limit: 7})
		read, pos = append(read, ids...), next
	}
	// The last ones may become readable a little later (see readUntil).
	mu.Lock()
	last := written[len(written)-1]
	mu.Unlock()
	if !slices.Contains(read, last) {
		ids, _ := f.readUntil(a.ID, herald.PollParams{After: pos, Limit: 7}, last)
		read = append(read, ids...)
	}
	if !sameSet(read, written) {
		t.Fatalf("read %d messages (%d distinct), wrote %d", len(read), len(slices.Compact(slices.Sorted(slices.Values(read)))), len(written))
	}
}
