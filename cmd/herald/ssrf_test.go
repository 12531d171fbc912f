package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSSRFRedirectsRecordedNotFollowed runs herald serve with only
// 127.0.0.1 allowed. Endpoints answer 301, 302, 307 and 308, each to an
// allowed receiver and to blocked addresses (loopback outside the
// allow-list, the metadata service): every attempt is recorded as failed
// with its 3xx status, and no redirect target is contacted.
func TestSSRFRedirectsRecordedNotFollowed(t *testing.T) {
	s := startServer(t, "HERALD_ALLOWED_DESTINATION_CIDRS=127.0.0.1/32", "HERALD_RETRY_SCHEDULE=")
	public := newReceiver(t, nil)
	blockedLoopback := "http://127.0.0.2:" + public.URL[strings.LastIndex(public.URL, ":")+1:] + "/moved"
	targets := map[string]string{"public": public.URL + "/moved", "loopback": blockedLoopback, "metadata": "http://169.254.169.254/latest/meta-data/"}
	redirector := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // /<code>/<target>
		code, _ := strconv.Atoi(parts[0])
		http.Redirect(w, r, targets[parts[1]], code)
	})
	app := s.createApp(t, "redirects")
	want := map[string]int{}
	for _, code := range []string{"301", "302", "307", "308"} {
		for target := range targets {
			id, _ := s.createEndpoint(t, app, map[string]any{"url": redirector.URL + "/" + code + "/" + target})
			want[id], _ = strconv.Atoi(code)
		}
	}
	msgID := s.send(t, app, map[string]any{"eventType": "a.b", "payload": map[string]any{}})
	var attempts []map[string]any
	waitFor(t, 10*time.Second, "an attempt per endpoint", func() bool {
		attempts = items(t, s.must(t, 200, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msgID+"?limit=100", nil))
		return len(attempts) >= len(want)
	})
	for _, a := range attempts {
		if code := want[str(a, "endpointId")]; a["responseStatusCode"] != float64(code) || a["status"] != 2.0 {
			t.Errorf("attempt %v: want failed with status %d", a, code)
		}
	}
	if n := len(public.requests()); n != 0 {
		t.Errorf("a redirect to the allowed receiver was followed %d times", n)
	}
}
