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

	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	node := delivery.NodeName() // this process in claims and elections
	stopEngine, err := startEngine(ctx, cfg, node, store, logger)
	if err != nil {
		return err
	}
	defer stopEngine()

	srv, addr, serveErr, err := startAPI(cfg, token, store, logger)
	if err != nil {
		return err
	}

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
func startEngine(ctx context.Context, cfg Config, node string, store herald.Store, logger *slog.Logger) (func(), error) {
	if !cfg.RunsWorker() {
		return func() {}, nil
	}
	engine := delivery.New(deliveryConfig(cfg, node, logger), store)
	if err := engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start delivery engine: %w", err)
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		engine.Stop(stopCtx)
	}, nil
}

// startAPI listens and serves the API when the role runs it. serveErr
// receives the server's error if it stops by itself.
func startAPI(cfg Config, token string, store herald.Store, logger *slog.Logger) (srv *http.Server, addr string, serveErr chan error, err error) {
	serveErr = make(chan error, 1)
	if !cfg.RunsAPI() {
		return nil, "", serveErr, nil
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv = &http.Server{
		Handler: httpapi.NewServer(httpapi.Config{
			AdminToken:   token,
			PublicURL:    cfg.PublicURL,
			MaxBodyBytes: cfg.MaxBodyBytes,
			Timeout:      cfg.APITimeout,
			Logger:       logger,
		}, store),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { serveErr <- srv.Serve(ln) }()
	return srv, ln.Addr().String(), serveErr, nil
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
	m := delivery.MaintenanceConfig{Node: node, Term: cfg.LeaderTerm, Logger: logger}
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
