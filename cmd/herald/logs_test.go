package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeliveryLogsCarryIDsAndNoSecrets runs `herald serve` with JSON logs
// at debug level through deliveries that fail and succeed: every
// "delivery attempt" line is JSON with app_id, endpoint_id and msg_id, and
// no line holds the admin token, an app-portal token or the endpoint's
// signing secret.
func TestDeliveryLogsCarryIDsAndNoSecrets(t *testing.T) {
	s := startServer(t, "HERALD_LOG_FORMAT=json", "HERALD_LOG_LEVEL=debug")
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	appID := s.createApp(t, "logged")
	epID, secret := s.createEndpoint(t, appID, map[string]any{"url": rc.URL})
	portal := str(s.must(t, 200, "POST", "/api/v1/auth/app-portal-access/"+appID, map[string]any{}), "token")
	if r := s.callAs(t, "wrong-"+testToken, "GET", "/api/v1/app", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", r.Status)
	}
	msgID := s.send(t, appID, map[string]any{"eventType": "logged", "payload": map[string]any{"n": 1}})
	waitFor(t, 10*time.Second, "delivery after a failure", func() bool { return len(rc.requests()) == 2 })
	s.Stop(t)

	logs := s.stderr.String()
	for name, secretValue := range map[string]string{"admin token": testToken, "portal token": portal, "endpoint secret": secret} {
		if secretValue != "" && strings.Contains(logs, secretValue) {
			t.Errorf("the %s reached the log", name)
		}
	}
	attempts := 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		if line["msg"] != "delivery attempt" {
			continue
		}
		attempts++
		if line["app_id"] != appID || line["endpoint_id"] != epID || line["msg_id"] != msgID {
			t.Errorf("delivery line without its ids: %s", sc.Text())
		}
	}
	if attempts != 2 {
		t.Errorf("%d delivery attempt lines, want 2 (one failure, one success at debug)", attempts)
	}
}
