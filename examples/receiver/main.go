// Command receiver is a small webhook receiver built on the receive
// package: it verifies Standard Webhooks signatures (as Herald sends them),
// processes each event once, and prints it.
//
//	HERALD_WEBHOOK_SECRET=whsec_... go run ./examples/receiver -addr 127.0.0.1:8000 -db receiver.db
//
// The secret is the endpoint's (GET /api/v1/app/{app}/endpoint/{ep}/secret);
// several, separated by spaces, are all accepted (during a rotation). With
// -db the deduplication is kept in that SQLite file, across restarts;
// without it, in memory. -async answers 202 at once and prints in the
// background (with -db, events survive a restart).
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // "sqlite" database/sql driver

	"github.com/herald-webhooks/herald/receive"
	"github.com/herald-webhooks/herald/signing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until ctx ends, then shuts down.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address")
	path := fs.String("path", "/webhooks", "path that receives webhooks")
	dbPath := fs.String("db", "", "SQLite file for the deduplication store (default: in memory)")
	async := fs.Bool("async", false, "answer 202 at once and process in the background")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	secrets := strings.Fields(getenv("HERALD_WEBHOOK_SECRET"))
	if len(secrets) == 0 {
		return errors.New("set HERALD_WEBHOOK_SECRET to the endpoint's secret")
	}
	verifier, err := signing.NewStandardVerifier(secrets...)
	if err != nil {
		return err
	}
	store, closeStore, err := openStore(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer closeStore()
	cfg := receive.Config{
		Verifier: verifier,
		Store:    store,
		Logger:   slog.New(slog.NewTextHandler(stderr, nil)),
		Handler: func(_ context.Context, ev receive.Event) error {
			fmt.Fprintf(stdout, "event %s (attempt %d): %s\n", ev.ID, ev.Attempt, ev.Body)
			return nil
		},
	}
	if *async {
		cfg.Async = &receive.AsyncConfig{}
	}
	rcv, err := receive.New(cfg)
	if err != nil {
		return err
	}
	return serve(ctx, *addr, *path, rcv, stdout)
}

// openStore returns a SQLite store on path, or a memory store for "".
func openStore(ctx context.Context, path string) (receive.Store, func(), error) {
	if path == "" {
		return receive.NewMemoryStore(receive.MemoryConfig{}), func() {}, nil
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, nil, err
	}
	store, err := receive.NewSQLStore(db, receive.SQLConfig{Dialect: receive.SQLite})
	if err == nil {
		err = store.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return store, func() { db.Close() }, nil
}

// serve runs rcv at path on addr until ctx ends, then stops accepting
// requests and lets the receiver's background work finish.
func serve(ctx context.Context, addr, path string, rcv *receive.Receiver, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(path, rcv)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := rcv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "receiving webhooks at http://%s%s\n", ln.Addr(), path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	rcv.Stop(shutdown)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
