package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPanicLogsNoCredentials: a handler panic answers 500 with the Svix
// error body and logs the method and path only: neither the bearer token,
// nor a token or secret in the query string, nor the body reach the log
// line or the answer.
func TestPanicLogsNoCredentials(t *testing.T) {
	const (
		token  = "hrda_PanicTokenThatMustNotLeak0123456789"
		secret = "whsec_UGFuaWNTZWNyZXRUaGF0TXVzdE5vdExlYWsx"
	)
	var logs bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	h := s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("handler bug")
	}))
	req := httptest.NewRequest("POST", "/api/v1/app/app_1/endpoint?token="+token, strings.NewReader(`{"secret":"`+secret+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "panic in API handler") {
		t.Fatalf("panic: %d, log %s", rec.Code, logs.String())
	}
	for _, v := range []string{token, secret} {
		if strings.Contains(logs.String(), v) || strings.Contains(rec.Body.String(), v) {
			t.Errorf("%s leaked: log %s; body %s", v, logs.String(), rec.Body.String())
		}
	}
}
