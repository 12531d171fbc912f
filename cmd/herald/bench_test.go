package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBenchRunsEveryScenario runs `herald bench` at a tiny size and checks
// that every scenario reports its figures. It asserts no speed: benchmarks
// are measured by the command, not by tests.
func TestBenchRunsEveryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several real servers")
	}
	runTinyBench(t)
}

// TestBenchOnPostgres runs every scenario on PostgreSQL at a tiny size,
// and checks that the bench drops the schemas its servers made.
func TestBenchOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several real servers")
	}
	url := postgresURL(t)
	runTinyBench(t, "--database-url", url)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE $1",
		fmt.Sprintf("herald_bench_%d_%%", os.Getpid())).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d bench schemas left behind", left)
	}
}

// runTinyBench runs every scenario at a tiny size with extra flags and
// checks that each reports its figures.
func runTinyBench(t *testing.T, extra ...string) {
	bin := buildHerald(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	args := []string{"--server-binary", bin, "--json", out, "--duration", "500ms", "--raw-duration", "300ms", "--clients", "4",
		"--latency-rates", "50", "--latency-duration", "500ms", "--fanout", "3", "--fanout-deliveries", "60",
		"--isolation-endpoints", "4", "--isolation-hanging", "1", "--isolation-timeout", "300ms", "--backlog", "50"}
	args = append(args, extra...)
	var stdout, stderr syncBuffer
	if err := runBench(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var report benchReport
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"raw":          {"requests_per_s"},
		"throughput":   {"delivered_per_s", "accepted_per_s", "cpu_s_per_1000_msgs", "peak_rss_mib", "ratio_to_raw"},
		"latency@50/s": {"p50_ms", "p99_ms", "max_ms"},
		"fan-out to 3": {"deliveries_per_s"},
		"isolation":    {"throughput_kept", "p99_ratio"},
		"backlog":      {"drain_per_s", "peak_rss_mib", "idle_rss_mib", "ready_after_start_ms"},
	}
	got := map[string]map[string]float64{}
	for _, r := range report.Results {
		got[r.Scenario] = r.Figures
	}
	for scenario, keys := range want {
		for _, k := range keys {
			if v, ok := got[scenario][k]; !ok || v <= 0 {
				t.Errorf("%s: figure %s = %v (present %v), want a positive number", scenario, k, v, ok)
			}
		}
	}
	if got["backlog"]["pending_deliveries"] != 50 {
		t.Errorf("backlog pending %v, want 50", got["backlog"]["pending_deliveries"])
	}
}

// TestBenchAgainstRunningServer points the bench at a server it did not
// start: the scenarios that need no control of it run and report, and the
// others are refused with a clear error.
func TestBenchAgainstRunningServer(t *testing.T) {
	s := startServer(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	args := []string{"--target-url", s.URL, "--token", testToken, "--json", out, "--scenarios", "throughput,latency,fanout",
		"--duration", "500ms", "--clients", "4", "--latency-rates", "50", "--latency-duration", "500ms",
		"--fanout", "3", "--fanout-deliveries", "60"}
	var stdout, stderr syncBuffer
	if err := runBench(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var report benchReport
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, r := range report.Results {
		got[r.Scenario] = r.Figures
	}
	if got["throughput"]["delivered_per_s"] <= 0 || got["latency@50/s"]["p99_ms"] <= 0 || got["fan-out to 3"]["deliveries_per_s"] <= 0 {
		t.Errorf("figures missing: %v", got)
	}
	if _, ok := got["throughput"]["cpu_s_per_1000_msgs"]; ok {
		t.Error("CPU figure reported for a server the bench cannot see")
	}
	for _, bad := range [][]string{
		{"--target-url", s.URL, "--scenarios", "throughput"},
		{"--target-url", s.URL, "--token", testToken, "--scenarios", "backlog"},
		{"--token", testToken},
	} {
		if err := runBench(context.Background(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("bench %v: no error", bad)
		}
	}
}

// TestBenchTwoNodesOnPostgres runs the throughput scenario on two nodes
// sharing one schema, with the load spread over both APIs.
func TestBenchTwoNodesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	url := postgresURL(t)
	bin := buildHerald(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	args := []string{"--server-binary", bin, "--json", out, "--database-url", url, "--nodes", "2",
		"--scenarios", "throughput", "--duration", "500ms", "--clients", "4"}
	var stdout, stderr syncBuffer
	if err := runBench(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var report benchReport
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Results) != 1 || report.Results[0].Scenario != "throughput_2_nodes" {
		t.Fatalf("results %+v, want one throughput_2_nodes", report.Results)
	}
	f := report.Results[0].Figures
	for _, k := range []string{"messages", "delivered_per_s", "cpu_s_per_1000_msgs", "peak_rss_mib"} {
		if f[k] <= 0 {
			t.Errorf("figure %s = %v, want a positive number", k, f[k])
		}
	}
	if f["nodes"] != 2 {
		t.Errorf("nodes = %v, want 2", f["nodes"])
	}
	for _, bad := range [][]string{
		{"--nodes", "2", "--scenarios", "throughput"},                        // no database
		{"--nodes", "2", "--database-url", url},                              // every scenario
		{"--nodes", "0", "--database-url", url, "--scenarios", "throughput"}, // no node
	} {
		if err := runBench(context.Background(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("bench %v: no error", bad)
		}
	}
}
