package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/internal/secretbox"
)

// Config is everything `herald serve` can be told. Each field is set by a
// flag, else by its HERALD_* environment variable, else by its default.
type Config struct {
	// Addr is the API's listen address. Default 127.0.0.1:8071.
	Addr string
	// DataDir holds the embedded database and the generated admin token.
	// Default ./herald-data.
	DataDir string
	// AdminToken is the bearer token with full access. Default: generated
	// on first start, stored in DataDir/admin-token and printed once.
	AdminToken string
	// PublicURL is the URL clients reach the API at, used in app-portal
	// links. Default: taken from each request's Host.
	PublicURL string
	// RetrySchedule is the delay after each failed attempt. Default
	// 5s,5m,30m,2h,5h,10h,10h (8 attempts over about 27 hours).
	RetrySchedule []time.Duration
	// RetryJitter spreads each retry delay by this fraction either way.
	// Default 0.2 (±20%).
	RetryJitter float64
	// RequestTimeout bounds each delivery attempt. Default 15s.
	RequestTimeout time.Duration
	// AllowedDestinationCIDRs are networks deliveries may reach although
	// the SSRF guard blocks them (loopback, private, ...). Default none.
	AllowedDestinationCIDRs []netip.Prefix
	// Concurrency is the most deliveries claimed and in flight. Default 2048.
	Concurrency int
	// EndpointConcurrency is the most attempts in flight to one endpoint.
	// Default 32.
	EndpointConcurrency int
	// MaxBodyBytes limits API request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxEndpointsPerApp is how many endpoints one application may have.
	// Default 100.
	MaxEndpointsPerApp int
	// ShutdownTimeout bounds the wait for in-flight attempts on SIGTERM.
	// Default 10s.
	ShutdownTimeout time.Duration
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string
	// PprofAddr, when set, serves Go's profiling endpoints (/debug/pprof/)
	// on this address, for diagnosing performance. Default off.
	PprofAddr string
	// Metrics turns the Prometheus metrics on. Default true.
	Metrics bool
	// MetricsAddr, when set, serves /metrics on this address instead of
	// on the API listener. Default: on the API listener.
	MetricsAddr string
	// OTLPEndpoint, when set, exports traces to this OTLP/HTTP base URL
	// (/v1/traces is added). Default: OpenTelemetry's standard variables,
	// else tracing off.
	OTLPEndpoint string
	// Role is what this process runs: "all" (the API and the delivery
	// engine), "api" (only the API) or "worker" (only delivery). Default all.
	Role string
	// DatabaseURL, when set, selects the PostgreSQL store at this URL
	// instead of the embedded database in DataDir. Default: embedded.
	DatabaseURL string
	// DatabaseMaxConns is the PostgreSQL connection pool's size. Default 16.
	DatabaseMaxConns int
	// DatabaseSchema is the PostgreSQL schema that holds Herald's tables,
	// created if missing. Default: the connection's search_path (public).
	DatabaseSchema string
	// DeliveryLease is how long a claimed delivery stays reserved to the
	// node that claimed it: when a node dies, other nodes take its
	// deliveries over once their lease ends. At least RequestTimeout + 5s.
	// Default (0): RequestTimeout + 31s on PostgreSQL (46s); on the
	// embedded store, which rescues every lease when it starts, about 4
	// minutes.
	DeliveryLease time.Duration
	// APITimeout bounds the handling of each API request; past it the
	// request answers 503 (a database that hangs, say). Default 10s.
	APITimeout time.Duration
	// APIMaxInFlight bounds the API requests handled at once; beyond it
	// a request is answered 503 with Retry-After at once, its body
	// unread. Default 1024.
	APIMaxInFlight int
	// LeaderTerm is how long the node elected to run maintenance (lease
	// rescue, purges) leads without renewing: the longest maintenance
	// waits for a new leader after its leader dies. Default 15s.
	LeaderTerm time.Duration
	// AutoDisableAfter is how long every delivery to an endpoint must
	// fail (at least one failure a day) before the endpoint is disabled
	// automatically; 0 turns auto-disable off. Default 120h (5 days).
	AutoDisableAfter time.Duration
	// AttemptResponseRetention is how long attempts keep their response
	// bodies before the retention cleaner empties them. Default 30 days.
	AttemptResponseRetention time.Duration
	// AttemptRetention is how long attempts are kept before the retention
	// cleaner deletes them. Default 90 days.
	AttemptRetention time.Duration
	// TaskRetention is how long background tasks (recover, replays) are
	// kept once they ended, before the retention cleaner deletes them.
	// Default 30 days.
	TaskRetention time.Duration
	// RetentionInterval is how often the retention cleaner runs. Default 1m.
	RetentionInterval time.Duration
	// PayloadRetentionDay is the length of one day of a message's
	// payloadRetentionPeriod. Default 24h; shorter only to test retention.
	PayloadRetentionDay time.Duration
	// EncryptionKey, when set, encrypts endpoint secrets at rest with
	// AES-256-GCM: the standard base64 of 32 random bytes (herald gen-key).
	// Default: none (secrets stored as they are).
	EncryptionKey string
	// EncryptionOldKeys are earlier keys, comma-separated, that only
	// decrypt, while herald rotate-encryption-key moves every secret to
	// EncryptionKey. Default: none.
	EncryptionOldKeys string
}

// Cipher returns the endpoint secrets' cipher of EncryptionKey and
// EncryptionOldKeys, or nil when no key is set.
func (c Config) Cipher() (herald.SecretCipher, error) {
	box, err := secretbox.FromConfig(c.EncryptionKey, c.EncryptionOldKeys)
	if err != nil || box == nil {
		return nil, err // never a nil *Box in a non-nil interface
	}
	return box, nil
}

// Embedded reports whether the store is the embedded database in DataDir.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

// RunsAPI reports whether the role serves the API.
func (c Config) RunsAPI() bool { return c.Role != "worker" }

// RunsWorker reports whether the role runs the delivery engine.
func (c Config) RunsWorker() bool { return c.Role != "api" }

// setting is one configuration knob: its flag, its environment variable, its
// default and how to apply a value to a Config.
type setting struct {
	flag, env, def, usage string
	apply                 func(c *Config, v string) error
}

func settings() []setting {
	return []setting{
		{"addr", "HERALD_ADDR", "127.0.0.1:8071", "API listen address", func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("not host:port: %v", err)
			}
			c.Addr = v
			return nil
		}},
		{"data-dir", "HERALD_DATA_DIR", "./herald-data", "folder of the embedded database", func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			c.DataDir = v
			return nil
		}},
		{"admin-token", "HERALD_ADMIN_TOKEN", "", "bearer token with full access (default: generated and stored in the data dir)", func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return errors.New("must be at least 16 characters")
			}
			c.AdminToken = v
			return nil
		}},
		{"public-url", "HERALD_PUBLIC_URL", "", "URL clients reach the API at (for app-portal links)", func(c *Config, v string) error {
			c.PublicURL = strings.TrimSuffix(v, "/")
			return nil
		}},
		{"retry-schedule", "HERALD_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h", "comma-separated delays after each failed attempt", func(c *Config, v string) error {
			s, err := parseSchedule(v)
			c.RetrySchedule = s
			return err
		}},
		{"retry-jitter", "HERALD_RETRY_JITTER", "0.2", "fraction by which retry delays vary either way (0 to 0.5)", func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 0.5 {
				return errors.New("must be a number from 0 to 0.5")
			}
			c.RetryJitter = f
			return nil
		}},
		{"request-timeout", "HERALD_REQUEST_TIMEOUT", "15s", "timeout of each delivery attempt", func(c *Config, v string) error {
			d, err := parsePositiveDuration(v)
			c.RequestTimeout = d
			return err
		}},
		{"allowed-destination-cidrs", "HERALD_ALLOWED_DESTINATION_CIDRS", "", "comma-separated networks deliveries may reach despite the SSRF guard", func(c *Config, v string) error {
			p, err := egress.ParseCIDRs(v)
			c.AllowedDestinationCIDRs = p
			return err
		}},
		{"concurrency", "HERALD_CONCURRENCY", "2048", "most deliveries claimed and in flight", intSetting(func(c *Config, n int) { c.Concurrency = n }, 1, 100000)},
		{"endpoint-concurrency", "HERALD_ENDPOINT_CONCURRENCY", "32", "most attempts in flight to one endpoint", intSetting(func(c *Config, n int) { c.EndpointConcurrency = n }, 1, 10000)},
		{"max-body-bytes", "HERALD_MAX_BODY_BYTES", "1048576", "largest API request body", intSetting(func(c *Config, n int) { c.MaxBodyBytes = int64(n) }, 1024, 64<<20)},
		{"max-endpoints-per-app", "HERALD_MAX_ENDPOINTS_PER_APP", "100", "most endpoints one application may have", intSetting(func(c *Config, n int) { c.MaxEndpointsPerApp = n }, 1, 1000000)},
		{"api-timeout", "HERALD_API_TIMEOUT", "10s", "longest an API request may take before it answers 503", func(c *Config, v string) error {
			d, err := parsePositiveDuration(v)
			c.APITimeout = d
			return err
		}},
		{"api-max-inflight", "HERALD_API_MAX_INFLIGHT", "1024", "most API requests handled at once; beyond it requests answer 503 with Retry-After", intSetting(func(c *Config, n int) { c.APIMaxInFlight = n }, 1, 1000000)},
		{"shutdown-timeout", "HERALD_SHUTDOWN_TIMEOUT", "10s", "how long SIGTERM waits for in-flight attempts", func(c *Config, v string) error {
			d, err := parsePositiveDuration(v)
			c.ShutdownTimeout = d
			return err
		}},
		{"log-level", "HERALD_LOG_LEVEL", "info", "debug, info, warn or error", oneOf(func(c *Config, v string) { c.LogLevel = v }, "debug", "info", "warn", "error")},
		{"log-format", "HERALD_LOG_FORMAT", "text", "text or json", oneOf(func(c *Config, v string) { c.LogFormat = v }, "text", "json")},
		{"pprof-addr", "HERALD_PPROF_ADDR", "", "address for Go's /debug/pprof endpoints (off when empty)", func(c *Config, v string) error {
			if v != "" {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return fmt.Errorf("not host:port: %v", err)
				}
			}
			c.PprofAddr = v
			return nil
		}},
		{"metrics", "HERALD_METRICS", "true", "serve Prometheus metrics at /metrics (true or false)", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.Metrics = b
			return err
		}},
		{"metrics-addr", "HERALD_METRICS_ADDR", "", "address to serve /metrics on instead of the API listener", func(c *Config, v string) error {
			if v != "" {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return fmt.Errorf("not host:port: %v", err)
				}
			}
			c.MetricsAddr = v
			return nil
		}},
		{"otlp-endpoint", "HERALD_OTLP_ENDPOINT", "", "OTLP/HTTP base URL to export traces to (off when empty and OTEL_EXPORTER_OTLP_ENDPOINT is unset)", func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				return errors.New("must be an http:// or https:// URL")
			}
			c.OTLPEndpoint = v
			return nil
		}},
		{"role", "HERALD_ROLE", "all", "all (API and delivery), api or worker", oneOf(func(c *Config, v string) { c.Role = v }, "all", "api", "worker")},
		{"database-url", "HERALD_DATABASE_URL", "", "PostgreSQL URL (postgres://...) to use instead of the embedded database", func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return errors.New("must be a postgres:// or postgresql:// URL")
			}
			c.DatabaseURL = v
			return nil
		}},
		{"database-max-conns", "HERALD_DATABASE_MAX_CONNS", "16", "PostgreSQL connection pool size", intSetting(func(c *Config, n int) { c.DatabaseMaxConns = n }, 2, 1000)},
		{"database-schema", "HERALD_DATABASE_SCHEMA", "", "PostgreSQL schema for Herald's tables (default: the search_path)", func(c *Config, v string) error {
			if v != "" && !validSchemaName(v) {
				return errors.New("must be 1 to 63 of a-z 0-9 _, starting with a letter or _")
			}
			c.DatabaseSchema = v
			return nil
		}},
		{"delivery-lease", "HERALD_DELIVERY_LEASE", "", "how long a claimed delivery stays reserved to its node (default: request timeout + 31s on PostgreSQL)", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			d, err := parsePositiveDuration(v)
			c.DeliveryLease = d
			return err
		}},
		{"leader-term", "HERALD_LEADER_TERM", "15s", "how long the maintenance leader leads without renewing", func(c *Config, v string) error {
			d, err := parsePositiveDuration(v)
			if err == nil && (d < time.Second || d > 10*time.Minute) {
				err = errors.New("must be from 1s to 10m")
			}
			c.LeaderTerm = d
			return err
		}},
		{"auto-disable-after", "HERALD_AUTO_DISABLE_AFTER", "120h", "disable an endpoint whose deliveries have all failed for this long (0: never)", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err == nil && d < 0 {
				err = errors.New("must not be negative")
			}
			c.AutoDisableAfter = d
			return err
		}},
		{"attempt-response-retention", "HERALD_ATTEMPT_RESPONSE_RETENTION", "30d", "how long attempts keep their response bodies (e.g. 30d, 12h)", func(c *Config, v string) error {
			d, err := parseRetention(v)
			c.AttemptResponseRetention = d
			return err
		}},
		{"attempt-retention", "HERALD_ATTEMPT_RETENTION", "90d", "how long attempts are kept (e.g. 90d)", func(c *Config, v string) error {
			d, err := parseRetention(v)
			c.AttemptRetention = d
			return err
		}},
		{"task-retention", "HERALD_TASK_RETENTION", "30d", "how long ended background tasks are kept (e.g. 30d)", func(c *Config, v string) error {
			d, err := parseRetention(v)
			c.TaskRetention = d
			return err
		}},
		{"retention-interval", "HERALD_RETENTION_INTERVAL", "1m", "how often the retention cleaner runs", func(c *Config, v string) error {
			d, err := parsePositiveDuration(v)
			if err == nil && (d < 100*time.Millisecond || d > 24*time.Hour) {
				err = errors.New("must be from 100ms to 24h")
			}
			c.RetentionInterval = d
			return err
		}},
		{"encryption-key", "HERALD_ENCRYPTION_KEY", "", "key that encrypts endpoint secrets at rest: base64 of 32 bytes (herald gen-key); off when empty", func(c *Config, v string) error {
			if v != "" {
				if _, err := secretbox.ParseKey(v); err != nil {
					return err
				}
			}
			c.EncryptionKey = v
			return nil
		}},
		{"encryption-old-keys", "HERALD_ENCRYPTION_OLD_KEYS", "", "comma-separated earlier encryption keys, used only to decrypt (key rotation)", func(c *Config, v string) error {
			c.EncryptionOldKeys = v
			_, err := secretbox.FromConfig(secretbox.NewKey(), v) // checks each key, whatever the current one
			return err
		}},
		{"payload-retention-day", "HERALD_PAYLOAD_RETENTION_DAY", "24h", "length of one day of payloadRetentionPeriod (shorter only to test retention)", func(c *Config, v string) error {
			d, err := parsePositiveDuration(v)
			if err == nil && d > 24*time.Hour {
				err = errors.New("must be at most 24h")
			}
			c.PayloadRetentionDay = d
			return err
		}},
	}
}

// parseRetention parses a retention period: a whole number of days
// ("30d") or a Go duration ("12h"), from 1s to 10 years.
func parseRetention(v string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, errors.New("not a number of days (e.g. 30d) or a duration (e.g. 12h)")
		}
		if days < 0 || days > 3650 {
			return 0, errors.New("must be from 1s to 3650d") // checked before multiplying, which could overflow
		}
		d = time.Duration(days) * herald.RetentionDay
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, errors.New("not a number of days (e.g. 30d) or a duration (e.g. 12h)")
		}
	}
	if d < time.Second || d > 3650*herald.RetentionDay {
		return 0, errors.New("must be from 1s to 3650d")
	}
	return d, nil
}

// crossCheck reports the problems between settings.
func (c Config) crossCheck() []string {
	var problems []string
	if c.DeliveryLease > 0 && c.DeliveryLease < c.RequestTimeout+5*time.Second {
		problems = append(problems, fmt.Sprintf("HERALD_DELIVERY_LEASE=%v: must be at least the request timeout (%v) + 5s, or deliveries would be taken over while their attempt runs",
			c.DeliveryLease, c.RequestTimeout))
	}
	if c.EncryptionOldKeys != "" && c.EncryptionKey == "" {
		problems = append(problems, "HERALD_ENCRYPTION_OLD_KEYS is set without HERALD_ENCRYPTION_KEY: old keys only decrypt, set the current key too")
	}
	if c.AttemptRetention < c.AttemptResponseRetention {
		problems = append(problems, fmt.Sprintf("HERALD_ATTEMPT_RETENTION=%v: must be at least HERALD_ATTEMPT_RESPONSE_RETENTION (%v)",
			c.AttemptRetention, c.AttemptResponseRetention))
	}
	return problems
}

// loadConfig builds the Config from args (flags), getenv and defaults. It
// reports every problem at once: unknown HERALD_* variables, malformed
// values and unknown flags.
func loadConfig(name string, args []string, environ []string, stderr io.Writer) (Config, error) {
	var cfg Config
	getenv := envLookup(environ)
	all := settings()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagValues := make(map[string]*string, len(all))
	for _, s := range all {
		flagValues[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var problems []string
	known := map[string]bool{}
	for _, s := range all {
		known[s.env] = true
		value, source := s.def, "default"
		if v := getenv(s.env); v != "" {
			value, source = v, s.env
		}
		if set[s.flag] {
			value, source = *flagValues[s.flag], "--"+s.flag
		}
		if err := s.apply(&cfg, value); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%s: %v", source, shownValue(s.flag, value), err))
		}
	}
	if len(problems) == 0 {
		problems = cfg.crossCheck()
	}
	problems = append(problems, unknownEnv(environ, known)...)
	if len(problems) > 0 {
		return cfg, fmt.Errorf("invalid configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	cfg.DataDir = filepath.Clean(cfg.DataDir)
	return cfg, nil
}

// secretSettings are the settings whose values are credentials: a
// configuration error never repeats them.
var secretSettings = map[string]bool{"admin-token": true, "encryption-key": true, "encryption-old-keys": true}

// shownValue is a setting's value as a configuration error shows it,
// quoted: hidden for a credential, without the password for a URL.
func shownValue(flag, value string) string {
	switch {
	case secretSettings[flag] && value != "":
		return "(hidden)"
	case flag == "database-url":
		if u, err := url.Parse(value); err == nil {
			return strconv.Quote(u.Redacted())
		}
		return "(hidden: not a valid URL)"
	}
	return strconv.Quote(value)
}

// unknownEnv names every HERALD_* variable in environ that is not a setting,
// so that a typo does not silently leave a default in force.
func unknownEnv(environ []string, known map[string]bool) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HERALD_") && !known[k] && !ignoredEnv[k] {
			out = append(out, fmt.Sprintf("%s: unknown setting", k))
		}
	}
	sort.Strings(out)
	return out
}

// ignoredEnv are HERALD_* variables read by tests and tools, not by serve.
var ignoredEnv = map[string]bool{
	"HERALD_TEST_POSTGRES_URL": true, "HERALD_REQUIRE_POSTGRES": true, "HERALD_REQUIRE_SDK_TEST": true,
}

// RetryPolicy returns the delivery retry policy of c.
func (c Config) RetryPolicy() herald.RetryPolicy {
	return herald.RetryPolicy{Schedule: c.RetrySchedule, Jitter: c.RetryJitter, MaxRetryAfter: time.Hour}
}

func parseSchedule(v string) ([]time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil // no retries: one attempt only
	}
	parts := strings.Split(v, ",")
	out := make([]time.Duration, 0, len(parts))
	for _, p := range parts {
		d, err := parsePositiveDuration(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("item %q: %v", p, err)
		}
		out = append(out, d)
	}
	if len(out) > 50 {
		return nil, errors.New("at most 50 retries")
	}
	return out, nil
}

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a duration (e.g. 500ms, 15s, 2h)")
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	if d > 7*24*time.Hour {
		return 0, errors.New("must be at most 7 days")
	}
	return d, nil
}

func intSetting(set func(*Config, int), lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
		}
		set(c, n)
		return nil
	}
}

func oneOf(set func(*Config, string), allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				set(c, v)
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	}
}

// envLookup returns a getenv over environ ("KEY=value" pairs).
func envLookup(environ []string) func(string) string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

// validSchemaName reports whether v is a plain lower-case SQL identifier.
func validSchemaName(v string) bool {
	if len(v) == 0 || len(v) > 63 || (v[0] >= '0' && v[0] <= '9') {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
