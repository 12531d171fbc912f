package httpapi_test

import (
	"testing"
	"time"

	"github.com/herald-webhooks/herald/httpapi"
)

// TestTimeoutAnswers503 checks that a request whose store calls outlive
// Config.Timeout answers 503 with the Svix error body (whatever error the
// store made of its expired context), reads and writes alike, while calls
// that need no store still answer.
func TestTimeoutAnswers503(t *testing.T) {
	h := newAPI(t, httpapi.Config{Timeout: time.Nanosecond}) // expired before any store call
	for _, r := range []reply{
		h.do(adminToken, "GET", "/api/v1/app", nil),
		h.do(adminToken, "POST", "/api/v1/app", map[string]any{"name": "late"}),
	} {
		svixError(t, r, 503, "service_unavailable")
		if ra := r.header.Get("Retry-After"); ra == "" {
			t.Errorf("503 without Retry-After: %s", r.body)
		}
	}
	if r := h.do("", "GET", "/api/v1/health/ping", nil); r.status != 204 {
		t.Fatalf("ping: %d %s", r.status, r.body)
	}
}
