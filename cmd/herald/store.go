package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/postgres"
	"github.com/herald-webhooks/herald/sqlite"
)

// openStore opens the configured store: PostgreSQL when DatabaseURL is set,
// else the embedded database in DataDir.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger, observer herald.StoreObserver) (herald.Store, error) {
	return openStoreCipher(ctx, cfg, logger, observer, false)
}

// openStoreCipher is openStore, skipping the encryption key check when
// skipKeyCheck (see sqlite.Config.SkipKeyCheck).
func openStoreCipher(ctx context.Context, cfg Config, logger *slog.Logger, observer herald.StoreObserver, skipKeyCheck bool) (herald.Store, error) {
	cipher, err := cfg.Cipher()
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if !cfg.Embedded() {
		st, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Schema: cfg.DatabaseSchema,
			MaxConns: cfg.DatabaseMaxConns, Logger: logger, Observer: observer, Cipher: cipher, SkipKeyCheck: skipKeyCheck})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, sqlite.Config{
		Path:     filepath.Join(cfg.DataDir, "herald.db"),
		Logger:   logger,
		Observer: observer,
		// The data dir is locked to this process, whose engine (if its
		// role runs one) rescues every lease when it starts.
		ClaimOnCreate: cfg.RunsWorker(),
		Cipher:        cipher,
		SkipKeyCheck:  skipKeyCheck,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}
