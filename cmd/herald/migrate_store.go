package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/postgres"
	"github.com/herald-webhooks/herald/sqlite"
)

// migrateStoreSettings are the settings that migrate-store reads, by flag,
// with what each means to it.
var migrateStoreSettings = map[string]string{
	"data-dir":        "data dir whose embedded database (herald.db) is copied",
	"database-url":    "PostgreSQL URL (postgres://...) to copy into",
	"database-schema": "PostgreSQL schema to copy into, created if missing; it must hold no data (default: the search_path)",
}

// runMigrateStore copies the embedded database of a data dir into
// PostgreSQL: it locks the data dir (so that no server runs on it), opens
// the SQLite file (applying its migrations), opens PostgreSQL (applying
// its migrations), copies every table of user data in one transaction into
// an empty schema, then checks that each table holds as many rows as the
// source. The SQLite file is left as it was, as a backup.
func runMigrateStore(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadMigrateStoreConfig(args, environ, stderr)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(cfg.DataDir, "herald.db")
	if _, err := os.Stat(dbPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no embedded database to copy: %s does not exist (set --data-dir)", dbPath)
		}
		return fmt.Errorf("embedded database: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("%w: stop herald serve before copying its database", err)
	}
	defer unlock()

	logger := newLogger(Config{LogLevel: "warn"}, stderr)
	// Endpoint secrets are copied as they are stored, encrypted or not,
	// with the encryption key check: the copy needs no key, and PostgreSQL
	// is then served with the same HERALD_ENCRYPTION_KEY as the data dir.
	src, err := sqlite.Open(ctx, sqlite.Config{Path: dbPath, Logger: logger, SkipKeyCheck: true})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Schema: cfg.DatabaseSchema, Logger: logger,
		SkipKeyCheck: true})
	if err != nil {
		return err
	}
	defer dst.Close()

	copied, err := dst.Import(ctx, src)
	if herald.IsConflict(err) {
		return fmt.Errorf("%s; choose a fresh schema with --database-schema (it is created if missing)", herald.ErrorMessage(err))
	}
	if err != nil {
		return fmt.Errorf("copy into PostgreSQL: %w", err)
	}
	printCopied(stdout, dbPath, cfg.DatabaseSchema, copied)
	if err := verifyCopy(ctx, src, dst, copied); err != nil {
		return err
	}
	printNext(stdout, cfg)
	return nil
}

// loadMigrateStoreConfig reads migrate-store's settings from flags, else
// their HERALD_* variables, else the defaults, as serve reads them (and,
// like serve, names unknown HERALD_* variables). The database URL is
// required.
func loadMigrateStoreConfig(args []string, environ []string, stderr io.Writer) (Config, error) {
	flags := flag.NewFlagSet("herald migrate-store", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(stderr, "Usage: herald migrate-store --data-dir DIR --database-url postgres://... [--database-schema S]\n\n"+
			"Copies the embedded database of DIR into an empty PostgreSQL schema, in one transaction.\n\n")
		flags.PrintDefaults()
	}
	cfg, positional, problems, err := subcommandConfig(flags, migrateStoreSettings, args, environ)
	if err != nil {
		return cfg, err
	}
	if len(positional) > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(positional, " "))
	}
	if cfg.DatabaseURL == "" {
		problems = append(problems, "--database-url (or HERALD_DATABASE_URL) is required: the PostgreSQL database to copy into")
	}
	if err := configError(problems); err != nil {
		return cfg, err
	}
	cfg.DataDir = filepath.Clean(cfg.DataDir)
	return cfg, nil
}

// verifyCopy checks, after the commit, that every table copied holds as
// many rows in PostgreSQL as in the source.
func verifyCopy(ctx context.Context, src *sqlite.Store, dst *postgres.Store, copied []herald.TableCount) error {
	tables := make([]string, len(copied))
	for i, c := range copied {
		tables[i] = c.Table
	}
	want, err := src.TableCounts(ctx, tables)
	if err != nil {
		return fmt.Errorf("verify the copy: %w", err)
	}
	got, err := dst.TableCounts(ctx, tables)
	if err != nil {
		return fmt.Errorf("verify the copy: %w", err)
	}
	var problems []string
	for i := range tables {
		if got[i].Rows != want[i].Rows {
			problems = append(problems, fmt.Sprintf("%s: %d rows in PostgreSQL, %d in the source", tables[i], got[i].Rows, want[i].Rows))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the copy was committed but does not match the source:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// printCopied writes the rows copied per table and their total.
func printCopied(w io.Writer, dbPath, schema string, copied []herald.TableCount) {
	where := "PostgreSQL"
	if schema != "" {
		where = fmt.Sprintf("PostgreSQL schema %q", schema)
	}
	fmt.Fprintf(w, "Copied %s into %s:\n", dbPath, where)
	width := len("total")
	var total int64
	for _, c := range copied {
		width = max(width, len(c.Table))
		total += c.Rows
	}
	for _, c := range copied {
		fmt.Fprintf(w, "  %-*s %12d\n", width, c.Table, c.Rows)
	}
	fmt.Fprintf(w, "  %-*s %12d\n", width, "total", total)
}

// printNext says that the copy checked out and what to do next.
func printNext(w io.Writer, cfg Config) {
	env := "HERALD_DATABASE_URL"
	if cfg.DatabaseSchema != "" {
		env += " and HERALD_DATABASE_SCHEMA=" + cfg.DatabaseSchema
	}
	fmt.Fprintf(w, `Verified: every table holds as many rows in PostgreSQL as in the source.
Next:
  - start herald serve on each node with %s;
  - give every node the same HERALD_ADMIN_TOKEN (a generated one is in %s);
  - keep %s as a backup: it is unchanged, and herald reads it no more.
`, env, filepath.Join(cfg.DataDir, adminTokenFile), filepath.Join(cfg.DataDir, "herald.db"))
}
