package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/httpapi"
)

// TestEndpointURLValidation: endpoint URLs that hide their destination
// (numeric IP spellings), use another scheme, an IPv6 zone or a bad port
// are refused with a 422 naming body.url, on create, update, patch and for
// operational webhook endpoints; names and canonical addresses are stored
// (their destination is judged at connect time).
func TestEndpointURLValidation(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://e.example.com", "uid": "e"})
	bad := []struct{ url, msg string }{
		{"http://2130706433/", "four decimal numbers"},
		{"http://0x7f000001/", "four decimal numbers"},
		{"http://0177.0.0.1/", "four decimal numbers"},
		{"http://127.1/", "four decimal numbers"},
		{"http://0x7f.1/", "four decimal numbers"},
		{"file:///etc/passwd", "http or https"},
		{"gopher://example.com:70/_GET", "http or https"},
		{"ftp://example.com/", "http or https"},
		{"http://[fe80::1%25eth0]/", "zone"},
		{"http://example.com:0/", "port"},
		{"http://example.com:99999/", "port"},
		{"http:///no-host", "host"},
	}
	writes := []struct{ method, path string }{
		{"POST", "/api/v1/app/a/endpoint"},
		{"PUT", "/api/v1/app/a/endpoint/e"},
		{"PATCH", "/api/v1/app/a/endpoint/e"},
		{"POST", "/api/v1/operational-webhook/endpoint"},
	}
	for _, w := range writes {
		for _, tc := range bad {
			r := h.do(adminToken, w.method, w.path, map[string]any{"url": tc.url})
			if locs := validationLocs(t, r); !slices.Equal(locs, []string{"body.url"}) || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("%s %s url %q: 422 at %v, body %s; want body.url saying %q", w.method, w.path, tc.url, locs, r.body, tc.msg)
			}
		}
	}
	for _, u := range []string{"https://user:secret@hooks.example.com/in", "https://localhost./hook", "http://127.0.0.1:9000/",
		"http://[2606:4700::1111]:8443/", "http://metadata.google.internal./"} {
		h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": u})
	}
}
