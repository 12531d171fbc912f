package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCancelledRequestsAreNotInternalErrors checks that a store call
// ended by the client going away is not logged as an internal error,
// while a real internal error still is, without detail to the client.
func TestCancelledRequestsAreNotInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	w := httptest.NewRecorder()
	writeError(w, fmt.Errorf("list messages: %w", context.Canceled), log)
	if w.Code != statusClientClosed || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("cancelled: %d %s, logs %q", w.Code, w.Body, logs.String())
	}

	w = httptest.NewRecorder()
	writeError(w, fmt.Errorf("list messages: %w", errors.New("disk I/O error")), log)
	if w.Code != 500 || !strings.Contains(logs.String(), "level=ERROR") || strings.Contains(w.Body.String(), "disk") {
		t.Errorf("internal: %d %s, logs %q", w.Code, w.Body, logs.String())
	}
}
