package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchConfig is what `herald bench` is told.
type benchConfig struct {
	Scenarios        []string
	Duration         time.Duration // throughput run length
	RawDuration      time.Duration // raw run length
	Clients          int           // concurrent API clients
	PayloadBytes     int
	LatencyRates     []int
	LatencyDuration  time.Duration
	FanOut           []int
	FanOutDeliveries int
	IsolationTotal   int
	IsolationHanging int
	IsolationTimeout time.Duration
	Backlog          int
	DataDir          string
	JSONOut          string
	ServerEnv        []string
	// ServerBinary is the herald binary the bench runs as its server;
	// default this one.
	ServerBinary string
	// DatabaseURL, when set, runs the servers on PostgreSQL (each run in a
	// schema of its own, dropped at the end) instead of the embedded store.
	DatabaseURL string
	// TargetURL, when set, is a running Herald server to measure instead of
	// servers the bench starts; Token is its admin token. Only scenarios
	// that need no control of the server run against it.
	TargetURL, Token string
	// Nodes is how many servers share the throughput scenario's load, on
	// one PostgreSQL schema. Default 1.
	Nodes int
	// CPUProfile, when set, is where the bench writes a CPU profile of its
	// own process (load generator and receivers), to see what the load
	// costs on a machine shared with the server.
	CPUProfile string
}

// benchReport is the JSON result of a bench run.
type benchReport struct {
	Machine   map[string]any `json:"machine"`
	StartedAt time.Time      `json:"startedAt"`
	Results   []benchResult  `json:"results"`
}

// benchResult is one scenario's figures.
type benchResult struct {
	Scenario string             `json:"scenario"`
	Figures  map[string]float64 `json:"figures"`
	Notes    string             `json:"notes,omitempty"`
}

func parseBenchFlags(args []string, stderr io.Writer) (benchConfig, error) {
	fs := flag.NewFlagSet("herald bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", "raw,throughput,latency,fanout,isolation,backlog", "scenarios to run, comma-separated")
	var c benchConfig
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "length of the throughput run")
	fs.DurationVar(&c.RawDuration, "raw-duration", 10*time.Second, "length of the raw run")
	fs.IntVar(&c.Clients, "clients", 64, "concurrent API clients (throughput, fan-out)")
	fs.IntVar(&c.PayloadBytes, "payload-bytes", 1024, "payload size")
	rates := fs.String("latency-rates", "1000,5000", "open-loop message rates for the latency scenario")
	fs.DurationVar(&c.LatencyDuration, "latency-duration", 20*time.Second, "length of each latency run")
	fan := fs.String("fanout", "10,100", "endpoint counts for the fan-out scenario")
	fs.IntVar(&c.FanOutDeliveries, "fanout-deliveries", 200000, "deliveries per fan-out run")
	fs.IntVar(&c.IsolationTotal, "isolation-endpoints", 100, "endpoints in the isolation scenario")
	fs.IntVar(&c.IsolationHanging, "isolation-hanging", 10, "of which hang until the request timeout")
	fs.DurationVar(&c.IsolationTimeout, "isolation-timeout", 5*time.Second, "request timeout of the isolation scenario's server")
	fs.IntVar(&c.Backlog, "backlog", 1000000, "pending deliveries in the backlog scenario")
	fs.StringVar(&c.DataDir, "data-dir", "", "where the bench servers keep data (default: a temporary folder, removed after)")
	fs.StringVar(&c.JSONOut, "json", "bench-results.json", "file for the JSON results")
	fs.StringVar(&c.ServerBinary, "server-binary", "", "herald binary to run as the server (default: this one)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL to run the servers on (default: the embedded store)")
	fs.IntVar(&c.Nodes, "nodes", 1, "servers sharing the throughput scenario's load on one PostgreSQL schema (needs --database-url)")
	fs.StringVar(&c.CPUProfile, "cpu-profile", "", "file for a CPU profile of the bench process itself")
	fs.StringVar(&c.TargetURL, "target-url", "", "measure the running Herald server at this URL instead of starting one (raw, throughput, latency, fanout only; it must reach the bench's receivers on 127.0.0.1)")
	fs.StringVar(&c.Token, "token", "", "admin token of the server given by --target-url")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Scenarios = splitList(*scen)
	if c.ServerBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, err
		}
		c.ServerBinary = exe
	}
	var err error
	if c.LatencyRates, err = parseInts(*rates); err != nil {
		return c, fmt.Errorf("--latency-rates: %w", err)
	}
	if c.FanOut, err = parseInts(*fan); err != nil {
		return c, fmt.Errorf("--fanout: %w", err)
	}
	for _, s := range c.Scenarios {
		if _, ok := benchScenarios[s]; !ok {
			return c, fmt.Errorf("unknown scenario %q", s)
		}
	}
	if err := checkNodes(c); err != nil {
		return c, err
	}
	return c, checkTarget(c)
}

// checkNodes validates --nodes: several nodes share one PostgreSQL
// database and run the throughput scenario.
func checkNodes(c benchConfig) error {
	switch {
	case c.Nodes < 1:
		return errors.New("--nodes must be at least 1")
	case c.Nodes == 1:
		return nil
	case c.DatabaseURL == "":
		return errors.New("--nodes above 1 needs --database-url: nodes share a PostgreSQL database")
	case len(c.Scenarios) != 1 || c.Scenarios[0] != "throughput":
		return errors.New("--nodes above 1 runs the throughput scenario only: add --scenarios throughput")
	}
	return nil
}

// targetScenarios are the scenarios that can measure a server the bench
// did not start: the others set its configuration or restart it.
var targetScenarios = map[string]bool{"raw": true, "throughput": true, "latency": true, "fanout": true}

// checkTarget validates the flags that point the bench at a running server.
func checkTarget(c benchConfig) error {
	if c.TargetURL == "" {
		if c.Token != "" {
			return errors.New("--token is for a server given by --target-url")
		}
		return nil
	}
	if c.Token == "" {
		return errors.New("--target-url needs --token, the server's admin token")
	}
	if c.DatabaseURL != "" {
		return errors.New("--database-url is for servers the bench starts, not with --target-url")
	}
	for _, s := range c.Scenarios {
		if !targetScenarios[s] {
			return fmt.Errorf("scenario %q needs a server the bench starts; with --target-url use --scenarios raw,throughput,latency,fanout", s)
		}
	}
	return nil
}

// benchScenarios maps scenario names to their runners.
var benchScenarios = map[string]func(ctx context.Context, b *bench) ([]benchResult, error){
	"raw":        runRaw,
	"throughput": runThroughput,
	"latency":    runLatency,
	"fanout":     runFanOut,
	"isolation":  runIsolation,
	"backlog":    runBacklog,
}

// bench is the state shared by a run's scenarios.
type bench struct {
	cfg     benchConfig
	out     io.Writer
	logs    io.Writer
	rcv     *benchReceiver
	rawRPS  float64
	runDir  string
	runs    int
	schemas []string // PostgreSQL schemas made by the runs
}

// runBench is `herald bench`: it runs the chosen scenarios, prints a table
// and writes the JSON report.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	rcv, err := startBenchReceiver()
	if err != nil {
		return err
	}
	defer rcv.close()
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "herald-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	b := &bench{cfg: cfg, out: stdout, logs: stderr, rcv: rcv, runDir: dir}
	defer func() {
		if err := b.dropSchemas(); err != nil {
			fmt.Fprintln(stderr, err)
		}
	}()
	report := benchReport{Machine: machineInfo(), StartedAt: time.Now().UTC()}
	report.Machine["store"] = "embedded"
	if cfg.DatabaseURL != "" {
		report.Machine["store"] = "postgres"
	}
	fmt.Fprintf(stdout, "herald bench: %s, %d CPUs, %s, %s store\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(),
		report.Machine["cpu"], report.Machine["store"])
	for _, name := range cfg.Scenarios {
		if ctx.Err() != nil {
			break
		}
		// The previous scenario's writes may still be going to disk; let
		// them finish so that their fsyncs do not slow this one.
		syscall.Sync()
		res, err := benchScenarios[name](ctx, b)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		for _, r := range res {
			printResult(stdout, r)
		}
		report.Results = append(report.Results, res...)
	}
	j, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(cfg.JSONOut, append(j, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "results written to %s\n", cfg.JSONOut)
	return nil
}

// server starts a fresh Herald for one scenario, with its own data dir.
func (b *bench) server(env ...string) (*benchServer, string, error) {
	if b.cfg.TargetURL != "" {
		return &benchServer{URL: strings.TrimSuffix(b.cfg.TargetURL, "/"), Token: b.cfg.Token, start: time.Now()}, "", nil
	}
	b.runs++
	dir := filepath.Join(b.runDir, "run-"+strconv.Itoa(b.runs))
	all := append(append(b.storeEnv(b.runs), b.cfg.ServerEnv...), env...)
	s, err := startServeProcess(b.cfg.ServerBinary, dir, all, b.logs)
	return s, dir, err
}

func printResult(w io.Writer, r benchResult) {
	keys := make([]string, 0, len(r.Figures))
	for k := range r.Figures {
		keys = append(keys, k)
	}
	sortStrings(keys)
	fmt.Fprintf(w, "\n%-28s", r.Scenario)
	for i, k := range keys {
		if i > 0 && i%3 == 0 {
			fmt.Fprintf(w, "\n%-28s", "")
		}
		fmt.Fprintf(w, " %s=%s", k, formatFigure(r.Figures[k]))
	}
	fmt.Fprintln(w)
	if r.Notes != "" {
		fmt.Fprintf(w, "%-28s  %s\n", "", r.Notes)
	}
}

func formatFigure(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func machineInfo() map[string]any {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return map[string]any{"os": runtime.GOOS, "arch": runtime.GOARCH, "cpus": runtime.NumCPU(), "cpu": cpu, "go": runtime.Version(), "version": version}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive whole number", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// startCPUProfile profiles this process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
