package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/secretbox"
	"google.golang.org/protobuf/encoding/protojson"
)

// exchanges records the API answers of a test, to check error bodies.
type exchanges struct {
	mu     sync.Mutex
	errors []string // the body of every answer >= 400 (only what the server wrote)
}

// do makes a request as token and records the answer when it is an error.
func (x *exchanges) do(t *testing.T, s *testServer, token, method, path string, body any, headers ...string) apiResponse {
	t.Helper()
	r := s.callAs(t, token, method, path, body, headers...)
	if r.Status >= 400 {
		x.mu.Lock()
		x.errors = append(x.errors, fmt.Sprintf("%d %s", r.Status, r.Body))
		x.mu.Unlock()
	}
	return r
}

// want is do, failing the test unless the answer's status is status.
func (x *exchanges) want(t *testing.T, s *testServer, status int, token, method, path string, body any, headers ...string) map[string]any {
	t.Helper()
	r := x.do(t, s, token, method, path, body, headers...)
	if r.Status != status {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(t)
}

// leakForms returns the forms in which a secret could leak: itself, and
// for a whsec_ secret its base64 part, also decoded and re-encoded in the
// other base64 alphabets.
func leakForms(secret string) []string {
	out := []string{secret}
	core, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return out
	}
	out = append(out, core)
	if raw, err := base64.StdEncoding.DecodeString(core); err == nil && len(raw) >= 16 {
		out = append(out, base64.RawURLEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw))
	}
	return out
}

// TestSecretsAndTokensNeverLeak runs `herald serve`, with endpoint secrets
// encrypted, JSON logs at debug level, metrics and traces on, through a
// realistic session: endpoints created with and without secrets, secrets
// rotated (operational endpoint too), app-portal and admin tokens made,
// used, revoked and used again, deliveries that fail and then succeed, and
// bad requests carrying tokens and secrets in headers, bodies, paths and
// query strings. No secret, token or the encryption key appears in any log
// line, in /metrics, in any error body or in any exported span.
func TestSecretsAndTokensNeverLeak(t *testing.T) {
	otlp := newOTLPReceiver(t) // before the server, so it outlives the final flush
	key := secretbox.NewKey()
	s := startServer(t, "HERALD_LOG_FORMAT=json", "HERALD_LOG_LEVEL=debug", "HERALD_ENCRYPTION_KEY="+key,
		"HERALD_OTLP_ENDPOINT="+otlp.URL)
	var x exchanges
	failing := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "receiver down")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ok := newReceiver(t, nil)

	const (
		given   = "whsec_R2l2ZW5TZWNyZXRUaGF0TXVzdE5vdExlYWsxMjM0"
		rotated = "whsec_Um90YXRlZFNlY3JldFRoYXRNdXN0Tm90TGVhazU2"
		opGiven = "whsec_T3BlcmF0aW9uYWxTZWNyZXROb3RUb0xlYWs3ODkw"
	)
	app := str(x.want(t, s, 201, testToken, "POST", "/api/v1/app", map[string]any{"name": "leaky", "uid": "leaky"}), "id")
	ep1 := str(x.want(t, s, 201, testToken, "POST", "/api/v1/app/"+app+"/endpoint",
		map[string]any{"url": failing.URL, "secret": given}), "id")
	ep2 := str(x.want(t, s, 201, testToken, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": ok.URL}), "id")
	secretOf := func(token, path string) string {
		return str(x.want(t, s, 200, token, "GET", path+"/secret", nil), "key")
	}
	generated := secretOf(testToken, "/api/v1/app/"+app+"/endpoint/"+ep2)
	x.want(t, s, 204, testToken, "POST", "/api/v1/app/"+app+"/endpoint/"+ep1+"/secret/rotate", map[string]any{"key": rotated})
	x.want(t, s, 204, testToken, "POST", "/api/v1/app/"+app+"/endpoint/"+ep2+"/secret/rotate", map[string]any{})
	generated2 := secretOf(testToken, "/api/v1/app/"+app+"/endpoint/"+ep2)
	opEp := str(x.want(t, s, 201, testToken, "POST", "/api/v1/operational-webhook/endpoint",
		map[string]any{"url": ok.URL, "secret": opGiven}), "id")
	x.want(t, s, 204, testToken, "POST", "/api/v1/operational-webhook/endpoint/"+opEp+"/secret/rotate", map[string]any{})
	opRotated := secretOf(testToken, "/api/v1/operational-webhook/endpoint/"+opEp)

	portal := str(x.want(t, s, 200, testToken, "POST", "/api/v1/auth/app-portal-access/"+app, map[string]any{}), "token")
	admin2 := str(x.want(t, s, 201, testToken, "POST", "/api/v1/auth/token", map[string]any{"name": "ops"}), "token")
	if portal == "" || admin2 == "" {
		t.Fatal("no token made")
	}
	// The tokens work, including for reading a secret.
	secretOf(portal, "/api/v1/app/"+app+"/endpoint/"+ep1)
	x.want(t, s, 200, admin2, "GET", "/api/v1/app", nil)

	// Messages: the failing endpoint fails twice, then succeeds.
	msg := str(x.want(t, s, 202, portal, "POST", "/api/v1/app/"+app+"/msg",
		map[string]any{"eventType": "user.created", "payload": map[string]any{"n": 1}}), "id")
	waitFor(t, 15*time.Second, "deliveries after failures", func() bool {
		return len(failing.byMsg(msg)) == 3 && len(ok.byMsg(msg)) == 1
	})

	// Bad requests carrying credentials.
	other := str(x.want(t, s, 201, testToken, "POST", "/api/v1/app", map[string]any{"name": "other"}), "id")
	bad := []struct {
		token, method, path string
		body                any
		headers             []string
	}{
		{portal + "x", "GET", "/api/v1/app/" + app, nil, nil},
		{admin2[:len(admin2)-1], "GET", "/api/v1/app", nil, nil},
		{given, "GET", "/api/v1/app", nil, nil},
		{"", "GET", "/api/v1/app", nil, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+testToken+"x"))}},
		{"", "GET", "/api/v1/app", nil, []string{"Authorization", testToken}}, // no Bearer
		{portal, "GET", "/api/v1/app/" + other, nil, nil},                     // another application
		{portal, "GET", "/api/v1/app", nil, nil},                              // admin only
		{testToken, "POST", "/api/v1/app/" + app + "/endpoint", map[string]any{"url": ok.URL, "secret": rotated + "!"}, nil},
		{testToken, "POST", "/api/v1/app/" + app + "/endpoint", `{"url": "` + ok.URL + `", "secret": "` + rotated, nil},
		{testToken, "POST", "/api/v1/app/" + app + "/endpoint", map[string]any{"url": 5, "secret": rotated}, nil},
		{testToken, "POST", "/api/v1/app/" + app + "/endpoint", map[string]any{"url": "ftp://" + url.PathEscape(rotated), "secret": rotated}, nil},
		{testToken, "POST", "/api/v1/app/" + app + "/endpoint/" + ep1 + "/secret/rotate", map[string]any{"key": "bad" + rotated}, nil},
		{testToken, "POST", "/api/v1/app/" + app + "/endpoint/" + ep1 + "/secret/rotate", map[string]any{"key": rotated, "gracePeriodSeconds": -1}, nil},
		{testToken, "PUT", "/api/v1/app/" + app + "/endpoint/" + ep1 + "/headers", map[string]any{"headers": map[string]any{"Authorization": 5}, "secret": given}, nil},
		{testToken, "GET", "/api/v1/app?limit=" + url.QueryEscape(portal) + "&iterator=" + url.QueryEscape(admin2), nil, nil},
		{testToken, "GET", "/api/v1/app/" + app + "/msg?limit=x&before=" + url.QueryEscape(given), nil, nil},
		{testToken, "GET", "/api/v1/app/" + app + "/endpoint/" + ep1 + "?token=" + url.QueryEscape(portal), nil, nil},
		{testToken, "POST", "/api/v1/auth/app-portal-access/" + app, `{"expiry": "` + portal + `"}`, nil},
		{testToken, "POST", "/api/v1/auth/token", map[string]any{"name": 5, "token": admin2}, nil},
	}
	for _, b := range bad {
		if r := x.do(t, s, b.token, b.method, b.path, b.body, b.headers...); r.Status < 400 && !strings.Contains(b.path, "?token=") {
			t.Errorf("%s %s: %d, want an error", b.method, b.path, r.Status)
		}
	}
	// A revoked token (logout) is refused afterwards.
	x.want(t, s, 204, portal, "POST", "/api/v1/auth/logout", nil)
	if r := x.do(t, s, portal, "GET", "/api/v1/app/"+app, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a revoked portal token: %d, want 401", r.Status)
	}

	metrics := scrapeText(t, s)
	waitFor(t, 20*time.Second, "the attempt spans", func() bool {
		return otlp.find("webhook attempt", map[string]any{"herald.msg_id": msg, "herald.outcome": "success"}) != nil
	})
	s.Stop(t)

	places := map[string]string{
		"the log":       s.stderr.String() + s.stdout.String(),
		"/metrics":      metrics,
		"an error body": strings.Join(x.errors, "\n"),
		"a span":        spansText(otlp),
	}
	if !strings.Contains(places["the log"], `"msg":"delivery attempt"`) || !strings.Contains(places["a span"], msg) {
		t.Fatal("the debug log or the spans lack the session's deliveries: the check would prove nothing")
	}
	if len(x.errors) < len(bad) {
		t.Fatalf("%d error answers recorded, want at least %d", len(x.errors), len(bad))
	}
	values := map[string]string{"admin token": testToken, "second admin token": admin2, "portal token": portal,
		"given secret": given, "rotated secret": rotated, "generated secret": generated, "generated secret after rotation": generated2,
		"operational secret": opGiven, "rotated operational secret": opRotated, "encryption key": key}
	for name, v := range values {
		for _, form := range leakForms(v) {
			for where, text := range places {
				if i := strings.Index(text, form); i >= 0 {
					t.Errorf("the %s reached %s: ...%s...", name, where, text[max(0, i-200):min(len(text), i+len(form)+50)])
				}
			}
		}
	}
}

// scrapeText returns the /metrics page of s.
func scrapeText(t *testing.T, s *testServer) string {
	t.Helper()
	r := s.callAs(t, "", "GET", "/metrics", nil)
	if r.Status != http.StatusOK {
		r = s.call(t, "GET", "/metrics", nil)
	}
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "herald_") {
		t.Fatalf("/metrics: %d: %.200s", r.Status, r.Body)
	}
	return string(r.Body)
}

// spansText returns every span the OTLP receiver got, as JSON.
func spansText(rc *otlpReceiver) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var b strings.Builder
	for _, s := range rc.spans {
		j, _ := protojson.Marshal(s)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestConfigErrorsHideCredentials: a configuration error names the setting
// at fault but never repeats a token, a key or a database password.
func TestConfigErrorsHideCredentials(t *testing.T) {
	const (
		shortToken = "short-tok"
		badKey     = "bm90LWEtMzItYnl0ZS1rZXk="
		badOld     = "b2xkLWJ1dC1ub3QtMzItYnl0ZXM="
		password   = "pg-pass-Zq81"
	)
	environ := []string{"HERALD_ADMIN_TOKEN=" + shortToken, "HERALD_ENCRYPTION_KEY=" + badKey,
		"HERALD_ENCRYPTION_OLD_KEYS=" + badOld, "HERALD_DATABASE_URL=mysql://herald:" + password + "@db/herald"}
	_, err := loadConfig("herald serve", nil, environ, io.Discard)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"HERALD_ADMIN_TOKEN", "HERALD_ENCRYPTION_KEY", "HERALD_ENCRYPTION_OLD_KEYS", "HERALD_DATABASE_URL", "mysql://herald:xxxxx@db/herald"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	for _, secret := range []string{shortToken, badKey, badOld, password} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error repeats %q: %v", secret, err)
		}
	}
	// Subcommands read settings the same way.
	_, err = loadMigrateStoreConfig([]string{"--database-url", "mysql://u:" + password + "@h/db"}, nil, io.Discard)
	if err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("migrate-store configuration error: %v", err)
	}
}
