// Command herald runs the Herald webhook service.
//
//	herald serve           run the API and the delivery engine
//	herald migrate-store   copy the embedded database into PostgreSQL
//	herald backup FILE     copy the embedded database to FILE, online
//	herald bench           run the benchmark
//	herald version         print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "herald: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program: it parses args (args[0] is the program name),
// reads settings from environ and writes to stdout and stderr. It returns
// when ctx is cancelled (SIGTERM) or the command ends.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		usage(stderr)
		return errors.New("no command given")
	}
	tuneGC(envLookup(environ))
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		return runServe(ctx, rest, environ, stdout, stderr)
	case "migrate-store":
		return runMigrateStore(ctx, rest, environ, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, environ, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "gen-key":
		return runGenKey(rest, stdout)
	case "rotate-encryption-key":
		return runRotateKey(ctx, rest, environ, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "herald %s\n", version)
		return nil
	case "help", "--help", "-h", "-help":
		usage(stdout)
		return nil
	default:
		usage(stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Herald sends webhooks: a Svix-compatible API with signed, retried delivery.

Usage:
  herald serve [flags]   run the API and the delivery engine (herald serve -h lists the flags)
  herald migrate-store --data-dir DIR --database-url postgres://... [--database-schema S]
                         copy the embedded database of DIR into an empty PostgreSQL schema
  herald backup [--data-dir DIR] [--force] FILE
                         write a consistent copy of the embedded database to FILE (also while serve runs)
  herald gen-key         print a new key for HERALD_ENCRYPTION_KEY (encrypts endpoint secrets at rest)
  herald rotate-encryption-key [--data-dir DIR | --database-url URL] [--allow-unreadable]
                         re-encrypt every endpoint secret with HERALD_ENCRYPTION_KEY (old keys in HERALD_ENCRYPTION_OLD_KEYS)
  herald bench [flags]   measure throughput, latency, fan-out, isolation and backlog (herald bench -h)
  herald version         print the version
`)
}
