package main

import (
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// pollerStores runs fn against a server on the embedded store and one on
// PostgreSQL.
func pollerStores(t *testing.T, fn func(t *testing.T, s *testServer)) {
	t.Run("embedded", func(t *testing.T) { fn(t, startServer(t)) })
	t.Run("postgres", func(t *testing.T) {
		u := postgresURL(t)
		fn(t, startServer(t, "HERALD_DATABASE_URL="+u, "HERALD_DATABASE_SCHEMA="+testSchema(t, u)))
	})
}

// pollPage is one answer of the poller.
type pollPage struct {
	ids      []string
	iterator string
	done     bool
}

// pollOnce GETs path (a poller or consumer path with its query) as token.
func (s *testServer) pollOnce(t *testing.T, token, path string) pollPage {
	t.Helper()
	r := s.callAs(t, token, "GET", path, nil)
	if r.Status != 200 {
		t.Fatalf("GET %s: status %d: %s", path, r.Status, r.Body)
	}
	m := r.JSON(t)
	p := pollPage{iterator: str(m, "iterator")}
	p.done, _ = m["done"].(bool)
	for _, it := range items(t, m) {
		if str(it, "eventType") == "" || it["payload"] == nil || str(it, "timestamp") == "" {
			t.Fatalf("message without eventType, payload or timestamp: %v", it)
		}
		p.ids = append(p.ids, str(it, "id"))
	}
	if p.iterator == "" {
		t.Fatalf("GET %s: no iterator: %s", path, r.Body)
	}
	return p
}

// consume reads a consumer's pages of at most limit until it has read n
// messages (a shared database may make the newest readable a little
// later) and checks that nothing more follows.
func (s *testServer) consume(t *testing.T, path string, limit, n int) []string {
	t.Helper()
	var ids []string
	waitFor(t, 15*time.Second, fmt.Sprintf("%d messages from %s", n, path), func() bool {
		p := s.pollOnce(t, testToken, fmt.Sprintf("%s?limit=%d", path, limit))
		if len(p.ids) > limit {
			t.Fatalf("page of %d, limit %d", len(p.ids), limit)
		}
		ids = append(ids, p.ids...)
		return len(ids) >= n
	})
	if p := s.pollOnce(t, testToken, path); len(p.ids) != 0 || !p.done {
		t.Fatalf("after %d messages the consumer read %v more (done %v)", n, p.ids, p.done)
	}
	return ids
}

// postN posts n messages of eventType to the app, one after another, and
// returns their IDs and timestamps.
func (s *testServer) postN(t *testing.T, app, eventType string, n int) (ids, stamps []string) {
	t.Helper()
	for i := range n {
		m := s.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": eventType, "payload": map[string]any{"i": i}})
		ids, stamps = append(ids, str(m, "id")), append(stamps, str(m, "timestamp"))
	}
	return ids, stamps
}

// TestPollerConsumerResumes: a consumer reads a sink in pages, in order,
// stops, and resumes exactly where it left off when more messages come; a
// seek moves it back; the plain poller walks the same stream by iterator.
func TestPollerConsumerResumes(t *testing.T) {
	pollerStores(t, func(t *testing.T, s *testServer) {
		app := s.createApp(t, "poll")
		s.createEndpoint(t, app, map[string]any{"url": "https://example.com/hook", "uid": "sink"})
		consumer := "/api/v1/app/" + app + "/poller/sink/consumer/worker-1"
		first, _ := s.postN(t, app, "invoice.paid", 7)
		if got := s.consume(t, consumer, 3, 7); !slices.Equal(got, first) {
			t.Fatalf("consumer read %v, want %v", got, first)
		}
		more, stamps := s.postN(t, app, "invoice.paid", 4)
		if got := s.consume(t, consumer, 3, 4); !slices.Equal(got, more) {
			t.Fatalf("resumed consumer read %v, want exactly %v", got, more)
		}
		// Seek back to just before the second batch's second message.
		at, err := time.Parse(time.RFC3339Nano, stamps[1])
		if err != nil {
			t.Fatal(err)
		}
		seek := s.must(t, 200, "POST", consumer+"/seek", map[string]any{"after": at.Add(-time.Microsecond).Format(time.RFC3339Nano)})
		if str(seek, "iterator") == "" {
			t.Fatalf("seek answered %v", seek)
		}
		all := append(slices.Clone(first), more...)
		got := s.consume(t, consumer, 2, 3)
		if extra := len(got) - 3; extra < 0 || !slices.Equal(got[extra:], more[1:]) || !slices.Equal(got[:extra], all[7+1-extra:7+1]) {
			t.Fatalf("after the seek read %v, want %v (maybe after a few earlier)", got, more[1:])
		}
		// Another consumer starts from the sink's creation; the poller
		// reads the same stream by iterator.
		if got := s.consume(t, "/api/v1/app/"+app+"/poller/sink/consumer/worker-2", 250, 11); !slices.Equal(got, all) {
			t.Fatalf("a new consumer read %v, want %v", got, all)
		}
		var walked []string
		path := "/api/v1/app/" + app + "/poller/sink?limit=4"
		for p := s.pollOnce(t, testToken, path); ; p = s.pollOnce(t, testToken, path+"&iterator="+url.QueryEscape(p.iterator)) {
			walked = append(walked, p.ids...)
			if p.done {
				break
			}
		}
		if !slices.Equal(walked, all) {
			t.Fatalf("poller walked %v, want %v", walked, all)
		}
	})
}

// TestPollerFiltersAndAccess: a sink's event type and channel filters and
// the event_type and channel parameters choose the messages; a token of
// another application is refused; bad input gets a clear error.
func TestPollerFiltersAndAccess(t *testing.T) {
	s := startServer(t)
	app, other := s.createApp(t, "poll"), s.createApp(t, "other")
	filtered, _ := s.createEndpoint(t, app, map[string]any{"url": "https://example.com/a", "eventTypes": []string{"invoice.paid"}, "channels": []string{"eu"}})
	all, _ := s.createEndpoint(t, app, map[string]any{"url": "https://example.com/b"})
	send := func(eventType string, channels ...string) string {
		return s.send(t, app, map[string]any{"eventType": eventType, "channels": channels, "payload": map[string]any{}})
	}
	paidEU, paidUS, createdEU := send("invoice.paid", "eu"), send("invoice.paid", "us"), send("invoice.created", "eu")
	base := "/api/v1/app/" + app + "/poller/"
	for _, tc := range []struct {
		path string
		want []string
	}{
		{base + filtered, []string{paidEU}},
		{base + all, []string{paidEU, paidUS, createdEU}},
		{base + all + "?event_type=invoice.paid", []string{paidEU, paidUS}},
		{base + all + "?channel=eu", []string{paidEU, createdEU}},
		{base + filtered + "?channel=us", nil},
	} {
		if p := s.pollOnce(t, testToken, tc.path); !slices.Equal(p.ids, tc.want) || !p.done {
			t.Errorf("GET %s: %v (done %v), want %v", tc.path, p.ids, p.done, tc.want)
		}
	}
	// after chooses where a poll without iterator starts.
	m := s.must(t, 200, "GET", "/api/v1/app/"+app+"/msg/"+paidUS, nil)
	after := url.QueryEscape(str(m, "timestamp"))
	if p := s.pollOnce(t, testToken, base+all+"?after="+after); !slices.Equal(p.ids, []string{createdEU}) {
		t.Errorf("after %s: %v, want %v", after, p.ids, []string{createdEU})
	}

	own := str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+app, map[string]any{}), "token")
	foreign := str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+other, map[string]any{}), "token")
	if p := s.pollOnce(t, own, base+filtered+"/consumer/c"); !slices.Equal(p.ids, []string{paidEU}) {
		t.Errorf("the application's own token read %v", p.ids)
	}
	for _, req := range [][2]string{{"GET", base + filtered}, {"GET", base + filtered + "/consumer/c"}, {"POST", base + filtered + "/consumer/c/seek"}} {
		r := s.callAs(t, foreign, req[0], req[1], map[string]any{"after": "2025-01-01T00:00:00Z"})
		if req[0] == "GET" {
			r = s.callAs(t, foreign, req[0], req[1], nil)
		}
		if r.Status != 403 || str(r.JSON(t), "code") == "" {
			t.Errorf("%s %s with another application's token: %d %s", req[0], req[1], r.Status, r.Body)
		}
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", base + all + "?iterator=not-ours", nil, 422},
		{"GET", base + all + "?limit=0", nil, 422},
		{"GET", base + all + "?event_type=no%20spaces", nil, 422},
		{"GET", base + "ep_missing", nil, 404},
		{"GET", "/api/v1/app/app_missing/poller/" + all, nil, 404},
		{"POST", base + all + "/consumer/c/seek", map[string]any{}, 422},
		{"POST", base + all + "/consumer/c/seek", map[string]any{"after": "yesterday"}, 400},
		{"GET", base + all + "/consumer/" + url.PathEscape("bad id"), nil, 422},
	} {
		r := s.call(t, tc.method, tc.path, tc.body)
		if r.Status != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.Status, r.Body, tc.status)
		}
		if len(r.JSON(t)) == 0 {
			t.Errorf("%s %s: empty error body", tc.method, tc.path)
		}
	}
}

// TestPollerWhilePosting: a consumer polls while several clients post; it
// reads every message exactly once.
func TestPollerWhilePosting(t *testing.T) {
	pollerStores(t, func(t *testing.T, s *testServer) {
		app := s.createApp(t, "poll")
		s.createEndpoint(t, app, map[string]any{"url": "https://example.com/hook", "uid": "sink"})
		consumer := "/api/v1/app/" + app + "/poller/sink/consumer/c?limit=5"
		const posters, each = 4, 10
		var mu sync.Mutex
		var posted []string
		var wg sync.WaitGroup
		for p := range posters {
			wg.Go(func() {
				for i := range each {
					r := s.call(t, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "e", "payload": map[string]any{"p": p, "i": i}})
					if r.Status != 202 {
						t.Errorf("post: %d %s", r.Status, r.Body)
						return
					}
					mu.Lock()
					posted = append(posted, str(r.JSON(t), "id"))
					mu.Unlock()
				}
			})
		}
		var read []string
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		for polling := true; polling; {
			select {
			case <-finished:
				polling = false
			default:
			}
			read = append(read, s.pollOnce(t, testToken, consumer).ids...)
		}
		waitFor(t, 15*time.Second, "every posted message read", func() bool {
			read = append(read, s.pollOnce(t, testToken, consumer).ids...)
			return len(read) >= len(posted)
		})
		got, want := slices.Sorted(slices.Values(read)), slices.Sorted(slices.Values(posted))
		if !slices.Equal(got, want) {
			t.Fatalf("read %d messages, posted %d: read %v, posted %v", len(read), len(posted), got, want)
		}
	})
}
