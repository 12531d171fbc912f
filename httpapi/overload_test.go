package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/httpapi"
)

// TestMaxInFlight checks that a request beyond Config.MaxInFlight is
// answered 503 with Retry-After and the error body at once, while the
// admitted one is still being read; that the liveness check is never
// refused; and that capacity comes back when the admitted request ends.
func TestMaxInFlight(t *testing.T) {
	h := newAPI(t, httpapi.Config{MaxInFlight: 1, Timeout: time.Minute})
	// The admitted request: its body arrives only when the test says so,
	// so it holds the one slot meanwhile.
	body, feed := io.Pipe()
	// Whatever happens, the admitted request ends before the server is
	// closed (which waits for it).
	t.Cleanup(func() { feed.CloseWithError(errors.New("test over")) })
	req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/app", body)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	held := make(chan reply, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- reply{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		held <- reply{status: resp.StatusCode, body: b}
	}()

	var refused reply
	deadline := time.Now().Add(30 * time.Second)
	for {
		refused = h.do(adminToken, "GET", "/api/v1/app", nil)
		if refused.status == 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	svixError(t, refused, 503, "service_unavailable")
	if ra, err := strconv.Atoi(refused.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want a number of seconds", refused.header.Get("Retry-After"))
	}
	if r := h.do("", "GET", "/api/v1/health/ping", nil); r.status != 204 {
		t.Errorf("ping while full: %d %s", r.status, r.body)
	}

	io.WriteString(feed, `{"name":"admitted"}`)
	feed.Close()
	if r := <-held; r.status != 201 {
		t.Fatalf("admitted request: %d %s", r.status, r.body)
	}
	h.expect(200, "GET", "/api/v1/app", nil)
}
