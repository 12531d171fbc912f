package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeaderSizeLimit sends headers over the server's limit: net/http
// answers 431 without reaching the API, and the server goes on serving.
func TestHeaderSizeLimit(t *testing.T) {
	s := startServer(t)
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/app", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("X-Filler", strings.Repeat("x", maxHeaderBytes+8192))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", resp.StatusCode)
	}
	s.must(t, 200, "GET", "/api/v1/app", nil)
}
