package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/httpapi"
	"github.com/herald-webhooks/herald/internal/metrics"
)

// otlpEndpoint returns the OTLP/HTTP URL traces go to: the
// --otlp-endpoint setting, else OpenTelemetry's standard variables
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, OTEL_EXPORTER_OTLP_ENDPOINT
// plus /v1/traces); "" when none is set and tracing is off.
func otlpEndpoint(cfg Config, environ []string) string {
	getenv := envLookup(environ)
	base := cfg.OTLPEndpoint
	if base == "" {
		if v := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
			return v
		}
		base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/v1/traces"
}

// startTracing returns the tracer for the API and the engine, exporting
// spans in batches over OTLP/HTTP (protobuf), and the function that
// flushes and stops it. Without an endpoint it returns a nil tracer:
// tracing is off and costs nothing.
func startTracing(ctx context.Context, cfg Config, environ []string, node string, logger *slog.Logger) (trace.Tracer, func(), error) {
	endpoint := otlpEndpoint(cfg, environ)
	if endpoint == "" {
		return nil, func() {}, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("herald"), semconv.ServiceVersion(version),
		semconv.ServiceInstanceID(node))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res))
	logger.Info("exporting traces over OTLP/HTTP", "endpoint", redactURL(endpoint))
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			logger.Warn("flush traces", "err", err)
		}
	}
	return tp.Tracer("github.com/herald-webhooks/herald"), stop, nil
}

// redactURL drops any user info and query from u, for logs.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + u[i+1:]
		}
	}
	u, _, _ = strings.Cut(u, "?")
	return u
}

// newMetrics returns the process's metrics, or nil when they are off.
func newMetrics(cfg Config) *metrics.Metrics {
	if !cfg.Metrics {
		return nil
	}
	return metrics.New()
}

// startMetricsServer serves /metrics on addr (HERALD_METRICS_ADDR).
func startMetricsServer(addr string, m *metrics.Metrics, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	logger.Info("metrics listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// gate is the API listener's handler: until open is called (while the
// store is opened and migrated) it answers the readiness check and every
// API request 503 "starting", and the liveness ping 204; then it hands
// every request to the API. /metrics, when served on the API listener,
// answers throughout.
type gate struct {
	api     atomic.Pointer[http.Handler]
	metrics http.Handler // nil when not served here
}

// open hands requests to api from now on.
func (g *gate) open(api http.Handler) { g.api.Store(&api) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.metrics != nil && r.URL.Path == "/metrics" && r.Method == http.MethodGet {
		g.metrics.ServeHTTP(w, r)
		return
	}
	if api := g.api.Load(); api != nil {
		(*api).ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/api/v1/health/ping" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, `{"code":"starting","detail":"Herald is starting: the store is being opened and migrated."}`)
}

// observability is what serve observes itself with: metrics and a tracer,
// each nil when off.
type observability struct {
	metrics *metrics.Metrics
	tracer  trace.Tracer
}

// startObservability sets up metrics (and their own listener when
// MetricsAddr is set) and tracing, and returns the function that stops
// them.
func startObservability(ctx context.Context, cfg Config, environ []string, node string, logger *slog.Logger) (observability, func(), error) {
	obs := observability{metrics: newMetrics(cfg)}
	stopMetrics := func() {}
	if obs.metrics != nil && cfg.MetricsAddr != "" {
		stop, err := startMetricsServer(cfg.MetricsAddr, obs.metrics, logger)
		if err != nil {
			return obs, nil, err
		}
		stopMetrics = stop
	}
	tracer, stopTracing, err := startTracing(ctx, cfg, environ, node, logger)
	if err != nil {
		stopMetrics()
		return obs, nil, err
	}
	obs.tracer = tracer
	return obs, func() { stopTracing(); stopMetrics() }, nil
}

// storeObserver returns the store's observer, nil without metrics.
func (o observability) storeObserver() herald.StoreObserver {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

// watchQueue adds the queue gauges, read from store.
func (o observability) watchQueue(store herald.StatsStore, logger *slog.Logger) {
	if o.metrics != nil {
		o.metrics.WatchQueue(metrics.QueueConfig{Logger: logger}, store)
	}
}

// delivery sets the engine's observer and tracer.
func (o observability) delivery(c delivery.Config) delivery.Config {
	if o.metrics != nil {
		c.Observer = o.metrics
	}
	c.Tracer = o.tracer
	return c
}

// api sets the API's observer and tracer.
func (o observability) api(c httpapi.Config) httpapi.Config {
	if o.metrics != nil {
		c.Observer = o.metrics
	}
	c.Tracer = o.tracer
	return c
}
