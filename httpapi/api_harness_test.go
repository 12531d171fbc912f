package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/httpapi"
	"github.com/herald-webhooks/herald/sqlite"
)

const adminToken = "admin-token-0123456789"

// apiHarness is an API server over a real SQLite store, with a clock the
// test can move.
type apiHarness struct {
	t     *testing.T
	store *sqlite.Store
	srv   *httptest.Server
	mu    sync.Mutex
	skew  time.Duration // added to the real time
}

func newAPI(t *testing.T, cfg httpapi.Config) *apiHarness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &apiHarness{t: t, store: st}
	cfg.AdminToken = adminToken
	cfg.Now = h.clock
	h.srv = httptest.NewServer(httpapi.NewServer(cfg, st))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *apiHarness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Add(h.skew)
}

// advance moves the server's clock forward.
func (h *apiHarness) advance(d time.Duration) {
	h.mu.Lock()
	h.skew += d
	h.mu.Unlock()
}

// reply is an API answer.
type reply struct {
	status int
	body   []byte
	header http.Header
}

func (r reply) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %s", r.status, r.body)
	}
	return m
}

// do sends a request as token; body may be nil, a string sent as is, or a
// value sent as JSON; headers are name, value pairs.
func (h *apiHarness) do(token, method, path string, body any, headers ...string) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); len(b) > 0 && ct != "application/json" {
		h.t.Errorf("%s %s: content-type %q", method, path, ct)
	}
	return reply{status: resp.StatusCode, body: b, header: resp.Header}
}

// expect sends an admin request and fails unless it answers want; it
// returns the decoded object body (nil when empty).
func (h *apiHarness) expect(want int, method, path string, body any, headers ...string) map[string]any {
	h.t.Helper()
	r := h.do(adminToken, method, path, body, headers...)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.obj(h.t)
}

// svixError checks an error reply's status and Svix code.
func svixError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.obj(t)
	if m["code"] != code || m["detail"] == "" || m["detail"] == nil {
		t.Errorf("error body %s, want code %q and a detail", r.body, code)
	}
}

// validationLocs returns the loc paths of a 422 body, joined with ".".
func validationLocs(t *testing.T, r reply) []string {
	t.Helper()
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", r.status, r.body)
	}
	var v struct {
		Detail []struct {
			Loc  []any  `json:"loc"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || len(v.Detail) == 0 {
		t.Fatalf("422 body %s", r.body)
	}
	var out []string
	for _, d := range v.Detail {
		if d.Msg == "" || d.Type != "value_error" {
			t.Errorf("422 item without msg/type: %+v", d)
		}
		parts := make([]string, len(d.Loc))
		for i, p := range d.Loc {
			parts[i], _ = p.(string)
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

func field(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func data(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("no data array: %v", m)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func ids(t *testing.T, m map[string]any, key string) []string {
	var out []string
	for _, it := range data(t, m) {
		out = append(out, field(it, key))
	}
	return out
}

// newAPIOver starts another API server over h's existing store.
func newAPIOver(t *testing.T, h *apiHarness) *httptest.Server {
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{AdminToken: adminToken, Now: h.clock}, h.store))
	t.Cleanup(srv.Close)
	return srv
}
