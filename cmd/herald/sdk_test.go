package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSvixJavaScriptSDK drives Herald with the official Svix JavaScript SDK,
// unchanged: it creates an application, an event type, an endpoint and a
// message, reads back the attempts and verifies the delivery with the SDK's
// own Webhook verifier. It needs node and `npm ci --prefix sdktest`; it is
// skipped without them unless HERALD_REQUIRE_SDK_TEST=1 (as in CI).
func TestSvixJavaScriptSDK(t *testing.T) {
	dir, err := filepath.Abs("../../sdktest")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "svix"))
	if err != nil || modErr != nil {
		if os.Getenv("HERALD_REQUIRE_SDK_TEST") == "1" {
			t.Fatalf("node or sdktest/node_modules missing (run: npm ci --prefix sdktest): %v %v", err, modErr)
		}
		t.Skip("node or sdktest/node_modules missing; run: npm ci --prefix sdktest")
	}
	s := startServer(t)
	rc := newReceiver(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "svix-e2e.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HERALD_URL="+s.URL,
		"HERALD_TOKEN="+testToken,
		"RECEIVER_URL="+rc.URL+"/hook",
		"RECEIVER_LOG_URL="+rc.URL+"/log",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("svix SDK run:\n%s", out)
	if err != nil {
		t.Fatalf("svix SDK scenario failed: %v\nserver log:\n%s", err, s.stderr.String())
	}
}
