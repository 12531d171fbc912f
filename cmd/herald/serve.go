package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/httpapi"
	"github.com/herald-webhooks/herald/internal/egress"
)

// runServe runs the API and the delivery engine until ctx is cancelled,
// then shuts down in order: stop accepting requests, stop claiming and let
// in-flight attempts finish (bounded), flush results, close the store.
func runServe(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("herald serve", args, environ, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if cfg.Embedded() { // one process per embedded database
		if err := checkWritable(cfg.DataDir); err != nil {
			return err
		}
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	token, err := adminToken(cfg, stdout)
	if err != nil {
		return err
	}

	node := delivery.NodeName() // this process in claims and elections
	obs, stopObs, err := startObservability(ctx, cfg, environ, node, logger)
	if err != nil {
		return err
	}
	defer stopObs()
	// The API listens before the store opens, so that its readiness
	// check answers "starting" while migrations run.
	srv, addr, serveErr, gate, err := listenAPI(cfg, obs, logger)
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close() // after the Shutdown below; on early errors too
	}

	store, err := openStore(ctx, cfg, logger, obs.storeObserver())
	if err != nil {
		return err
	}
	defer store.Close()
	obs.watchQueue(store, logger)

	stopEngine, err := startEngine(ctx, cfg, node, store, obs, logger)
	if err != nil {
		return err
	}
	defer stopEngine()
	openAPI(gate, cfg, token, store, obs, logger)

	if cfg.PprofAddr != "" {
		stopPprof, err := startPprof(cfg.PprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	maint := delivery.NewMaintainer(maintenanceConfig(cfg, node, logger), store)
	if err := maint.Start(ctx); err != nil {
		return err
	}

	if srv != nil {
		fmt.Fprintf(stdout, "herald listening on http://%s\n", addr)
	} else {
		fmt.Fprintln(stdout, "herald worker running")
	}
	logger.Info("herald started", "addr", addr, "role", cfg.Role, "node", node, "data_dir", cfg.DataDir, "version", version)

	select {
	case <-ctx.Done():
		err = nil
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	logger.Info("herald shutting down")
	if srv != nil {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if serr := srv.Shutdown(shutCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			logger.Warn("http shutdown", "err", serr)
		}
	}
	stopEngine()
	resignCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	maint.Stop(resignCtx)
	logger.Info("herald stopped")
	return err
}

// startEngine starts the delivery engine when the role runs one, and
// returns the function that stops it (bounded by ShutdownTimeout; safe
// twice).
func startEngine(ctx context.Context, cfg Config, node string, store herald.Store, obs observability, logger *slog.Logger) (func(), error) {
	if !cfg.RunsWorker() {
		return func() {}, nil
	}
	engine := delivery.New(obs.delivery(deliveryConfig(cfg, node, logger)), store)
	if obs.metrics != nil {
		obs.metrics.InFlight(engine.InFlight)
	}
	if err := engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start delivery engine: %w", err)
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		engine.Stop(stopCtx)
	}, nil
}

// maxHeaderBytes bounds a request's line and headers together: larger
// ones are answered 431 by net/http before any handler runs.
const maxHeaderBytes = 64 << 10

// listenAPI listens and serves when the role runs the API: first the
// gate (starting), until openAPI. serveErr receives the server's error if
// it stops by itself.
func listenAPI(cfg Config, obs observability, logger *slog.Logger) (srv *http.Server, addr string, serveErr chan error, g *gate, err error) {
	serveErr = make(chan error, 1)
	if !cfg.RunsAPI() {
		return nil, "", serveErr, nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	g = &gate{}
	if obs.metrics != nil && cfg.MetricsAddr == "" {
		g.metrics = obs.metrics.Handler()
	}
	srv = &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { serveErr <- srv.Serve(ln) }()
	return srv, ln.Addr().String(), serveErr, g, nil
}

// openAPI hands the gate's requests to the API (nothing without a gate).
func openAPI(g *gate, cfg Config, token string, store herald.Store, obs observability, logger *slog.Logger) {
	if g == nil {
		return
	}
	g.open(httpapi.NewServer(obs.api(httpapi.Config{
		AdminToken:         token,
		PublicURL:          cfg.PublicURL,
		MaxBodyBytes:       cfg.MaxBodyBytes,
		MaxEndpointsPerApp: cfg.MaxEndpointsPerApp,
		Timeout:            cfg.APITimeout,
		MaxInFlight:        cfg.APIMaxInFlight,
		RetentionDay:       cfg.PayloadRetentionDay,
		Logger:             logger,
	}), store))
}

func deliveryConfig(cfg Config, node string, logger *slog.Logger) delivery.Config {
	return delivery.Config{
		Node:           node,
		Policy:         cfg.RetryPolicy(),
		RequestTimeout: cfg.RequestTimeout,
		Concurrency:    cfg.Concurrency,
		PerEndpoint:    cfg.EndpointConcurrency,
		// The embedded store has one process: its sending rows are orphans.
		// On PostgreSQL other nodes hold live leases; expired ones are
		// rescued by maintenance.
		RescueOnStart: cfg.Embedded(),
		Lease:         cfg.DeliveryLease,
		HTTPClient: egress.NewClient(egress.Config{
			AllowedCIDRs: cfg.AllowedDestinationCIDRs,
			Timeout:      cfg.RequestTimeout,
			// Every attempt in flight may go to one host (a receiving
			// service shared by many endpoints): keep that many
			// connections for reuse, not fewer, or each burst closes and
			// dials connections again.
			MaxIdleConnsPerHost: cfg.Concurrency,
		}),
		Logger: logger,
	}
}

// maintenanceConfig sets maintenance up: every node stands for election
// and the leader rescues expired leases often enough that a dead node's
// deliveries wait little beyond their lease.
func maintenanceConfig(cfg Config, node string, logger *slog.Logger) delivery.MaintenanceConfig {
	m := delivery.MaintenanceConfig{Node: node, Term: cfg.LeaderTerm, Logger: logger, AutoDisableAfter: cfg.AutoDisableAfter,
		Retention: delivery.RetentionConfig{
			Interval:          cfg.RetentionInterval,
			ResponseRetention: cfg.AttemptResponseRetention,
			AttemptRetention:  cfg.AttemptRetention,
			TaskRetention:     cfg.TaskRetention,
		}}
	if cfg.DeliveryLease > 0 {
		m.RescueInterval = min(5*time.Second, max(time.Second, cfg.DeliveryLease/4))
	}
	return m
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// startPprof serves net/http/pprof's handlers on addr.
func startPprof(addr string, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
