package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchSchema names the PostgreSQL schema of one bench server run, so
// that every scenario starts on an empty database.
func benchSchema(run int) string { return fmt.Sprintf("herald_bench_%d_%d", os.Getpid(), run) }

// storeEnv is the environment that points a bench server at its store:
// nothing for the embedded one (its data dir is set apart), the database
// URL and the run's own schema for PostgreSQL.
func (b *bench) storeEnv(run int) []string {
	if b.cfg.DatabaseURL == "" {
		return nil
	}
	b.schemas = append(b.schemas, benchSchema(run))
	return []string{"HERALD_DATABASE_URL=" + b.cfg.DatabaseURL, "HERALD_DATABASE_SCHEMA=" + benchSchema(run)}
}

// dropSchemas removes the schemas the bench's servers made.
func (b *bench) dropSchemas() error {
	if len(b.schemas) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dropPostgresSchemas(ctx, b.cfg.DatabaseURL, slices.Compact(b.schemas)...); err != nil {
		return fmt.Errorf("drop bench schemas: %w", err)
	}
	return nil
}

// dropPostgresSchemas drops each schema, and what is in it, if it exists.
func dropPostgresSchemas(ctx context.Context, url string, schemas ...string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range schemas {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", s, err)
		}
	}
	return nil
}
