package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/herald-webhooks/herald/internal/secretbox"
)

// rotateKeySettings are the settings that rotate-encryption-key reads, by
// flag, with what each means to it.
var rotateKeySettings = map[string]string{
	"data-dir":            "data dir of the embedded database (herald serve must be stopped)",
	"database-url":        "PostgreSQL URL (postgres://...), when the store is PostgreSQL",
	"database-schema":     "PostgreSQL schema of Herald's tables (default: the search_path)",
	"encryption-key":      "the new key every endpoint secret is encrypted with",
	"encryption-old-keys": "comma-separated earlier keys, to decrypt the secrets still under them",
}

// runGenKey prints a new random encryption key for HERALD_ENCRYPTION_KEY.
func runGenKey(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments: %s (usage: herald gen-key)", strings.Join(args, " "))
	}
	fmt.Fprintln(stdout, secretbox.NewKey())
	return nil
}

// runRotateKey re-encrypts every endpoint secret that is plaintext or
// under an old key with HERALD_ENCRYPTION_KEY, in small transactions, then
// records the new key's check value, so that the old keys can be dropped.
// On the embedded store it locks the data dir (herald serve must be
// stopped); PostgreSQL nodes may keep running, configured with the new key
// and the old ones. --allow-unreadable is for a lost key: secrets no key
// decrypts are left as they are (deliveries to their endpoints fail until
// the endpoints' secrets are rotated) and the new key is accepted anyway.
func runRotateKey(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("herald rotate-encryption-key", flag.ContinueOnError)
	flags.SetOutput(stderr)
	allow := flags.Bool("allow-unreadable", false, "accept the new key although some secrets cannot be decrypted (the old key is lost)")
	flags.Usage = func() {
		fmt.Fprint(stderr, "Usage: herald rotate-encryption-key [--data-dir DIR | --database-url URL] [--allow-unreadable]\n\n"+
			"Re-encrypts every endpoint secret with HERALD_ENCRYPTION_KEY (old ones decrypted with HERALD_ENCRYPTION_OLD_KEYS).\n\n")
		flags.PrintDefaults()
	}
	cfg, positional, problems, err := subcommandConfig(flags, rotateKeySettings, args, environ)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		problems = append(problems, "unexpected arguments: "+strings.Join(positional, " "))
	}
	if cfg.EncryptionKey == "" {
		problems = append(problems, "HERALD_ENCRYPTION_KEY (or --encryption-key) is required: the key to encrypt every secret with")
	}
	if err := configError(problems); err != nil {
		return err
	}
	if cfg.Embedded() {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("%w: stop herald serve before re-encrypting its database", err)
		}
		defer unlock()
	}
	logger := newLogger(Config{LogLevel: "warn"}, stderr)
	// The key check is skipped: every secret is tried instead, and the
	// check value is replaced only when all of them decrypt (or when
	// --allow-unreadable says the old key is lost).
	st, err := openStoreCipher(ctx, cfg, logger, nil, true)
	if err != nil {
		return err
	}
	defer st.Close()
	done, err := st.SecretsReencrypt(ctx, *allow)
	if err != nil {
		return fmt.Errorf("re-encrypt endpoint secrets: %w", err)
	}
	fmt.Fprintf(stdout, "Re-encrypted the secrets of %d endpoints with key %s.\n", done.Endpoints, keyID(cfg.EncryptionKey))
	if done.Unreadable == 0 {
		fmt.Fprintln(stdout, "Every endpoint secret is now under the current key: HERALD_ENCRYPTION_OLD_KEYS can be removed.")
		return nil
	}
	if *allow {
		fmt.Fprintf(stdout, "%d endpoints hold secrets no key decrypts, left as they are: deliveries to them fail until their secrets are rotated "+
			"(POST .../secret/rotate with gracePeriodSeconds 0).\n", done.Unreadable)
		return nil
	}
	return errors.New(fmt.Sprint(done.Unreadable, " endpoints hold secrets that neither HERALD_ENCRYPTION_KEY nor HERALD_ENCRYPTION_OLD_KEYS decrypts: ",
		"add the key they were encrypted with to HERALD_ENCRYPTION_OLD_KEYS and run this again, or, if that key is lost, ",
		"run it with --allow-unreadable and rotate those endpoints' secrets"))
}

// keyID returns the ID of a valid encoded key.
func keyID(encoded string) string {
	k, err := secretbox.ParseKey(encoded)
	if err != nil {
		return "?"
	}
	return secretbox.KeyID(k)
}
