package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	// The admitted request, written by hand: its headers now, its body
	// only when the test says so, so that it holds the one slot meanwhile.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // before the server closes (which waits for it)
	body := `{"name":"admitted"}`
	fmt.Fprintf(conn, "POST /api/v1/app HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", adminToken, len(body))

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

	fmt.Fprint(conn, body)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("admitted request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("admitted request: status %d", resp.StatusCode)
	}
	h.expect(200, "GET", "/api/v1/app", nil)
}
