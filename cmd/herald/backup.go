package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/sqlite"
)

// backupSettings are the settings that backup reads, by flag, with what
// each means to it.
var backupSettings = map[string]string{
	"data-dir":     "data dir whose embedded database (herald.db) is copied",
	"database-url": "set when the store is PostgreSQL, which backup does not copy: use pg_dump",
}

// runBackup writes a consistent copy of the embedded database to FILE,
// also while herald serve runs on the same data dir: it takes no lock on
// the data dir, and the server keeps serving meanwhile (see sqlite.Backup).
// It refuses an existing FILE unless --force, and a PostgreSQL store.
func runBackup(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("herald backup", flag.ContinueOnError)
	flags.SetOutput(stderr)
	force := flags.Bool("force", false, "replace FILE if it exists")
	flags.Usage = func() {
		fmt.Fprint(stderr, "Usage: herald backup [--data-dir DIR] [--force] FILE\n\n"+
			"Writes a consistent copy of the embedded database of DIR to FILE, while herald serve runs or not.\n\n")
		flags.PrintDefaults()
	}
	cfg, positional, problems, err := subcommandConfig(flags, backupSettings, args, environ)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		problems = append(problems, "give one FILE to write the backup to: herald backup FILE")
	}
	if err := configError(problems); err != nil {
		return err
	}
	if !cfg.Embedded() {
		return errors.New("herald backup copies the embedded database; this setup uses PostgreSQL (HERALD_DATABASE_URL), " +
			"so back it up with PostgreSQL's own tools, e.g. pg_dump --format=custom --file=herald.dump \"$HERALD_DATABASE_URL\"")
	}
	src := filepath.Join(filepath.Clean(cfg.DataDir), "herald.db")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no embedded database to back up: %s: %w (set --data-dir)", src, err)
	}
	dst := positional[0]
	if strings.TrimSpace(dst) == "" {
		return errors.New("the backup FILE name is empty")
	}
	start := time.Now()
	if err := sqlite.Backup(ctx, src, dst, *force); err != nil {
		return err
	}
	info, err := os.Stat(dst)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "Backed up %s to %s (%d bytes, %s).\n", src, dst, info.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}
