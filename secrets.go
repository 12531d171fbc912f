package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// EncryptedSecretPrefix starts every endpoint secret stored encrypted.
// Plaintext secrets start with "whsec_" or "whsk_", so the two never mix up.
const EncryptedSecretPrefix = "enc:"

// IsEncryptedSecret reports whether a stored secret value is encrypted.
func IsEncryptedSecret(stored string) bool { return strings.HasPrefix(stored, EncryptedSecretPrefix) }

// SecretCodec is how a store applies its cipher (nil: none) to endpoint
// secrets: Seal as it writes them, Open as it reads them.
type SecretCodec struct{ Cipher SecretCipher }

// Seal returns the stored form of a secret. A value already encrypted (one
// that no configured key could decrypt when read) is kept as it is.
func (c SecretCodec) Seal(key string) (string, error) {
	if c.Cipher == nil || IsEncryptedSecret(key) {
		return key, nil
	}
	return c.Cipher.Encrypt(key)
}

// Open returns the plaintext of a stored secret. A value no key decrypts
// stays encrypted: it cannot sign, so deliveries to its endpoint fail with
// a reason saying so until the endpoint's secret is rotated.
func (c SecretCodec) Open(stored string) string {
	if c.Cipher == nil || !IsEncryptedSecret(stored) {
		return stored
	}
	plain, err := c.Cipher.Decrypt(stored)
	if err != nil {
		return stored
	}
	return plain
}

// SecretCipher encrypts endpoint secrets at rest. A store given one
// encrypts each secret when it writes it and decrypts it when it reads it,
// so that the rest of Herald only ever sees plaintext secrets.
type SecretCipher interface {
	// Encrypt returns the stored form of plaintext under the current key:
	// EncryptedSecretPrefix, a version, the key's ID, then the ciphertext.
	Encrypt(plaintext string) (string, error)
	// Decrypt returns the plaintext of a value Encrypt returned, with the
	// current key or an old one. A plaintext value is returned as it is.
	Decrypt(stored string) (string, error)
	// Current reports whether stored is encrypted with the current key
	// (false for plaintext and for values under an old key).
	Current(stored string) bool
}

// SecretsReencrypted is what Store.SecretsReencrypt did.
type SecretsReencrypted struct {
	// Endpoints is the number of endpoints whose secrets were rewritten.
	Endpoints int
	// Unreadable is the number of endpoints holding a secret that no key
	// of the cipher decrypts; they are left as they are.
	Unreadable int
}

// SecretStore re-encrypts endpoint secrets, for key rotation.
type SecretStore interface {
	// SecretsReencrypt rewrites, in small transactions, every endpoint
	// secret that is plaintext or under an old key with the store's
	// cipher's current key, then records the current key's check value
	// (see KeyCheckValue) unless some secrets were unreadable and
	// allowUnreadable is false. Without a cipher it fails with EInvalid.
	SecretsReencrypt(ctx context.Context, allowUnreadable bool) (SecretsReencrypted, error)
}

// keyCheckPlaintext is what the stored key check value decrypts to.
const keyCheckPlaintext = "herald encryption key check v1"

// KeyCheckSetting is the name of the stored setting that holds the key
// check value: keyCheckPlaintext encrypted with the key in use.
const KeyCheckSetting = "secret_key_check"

// ErrNoEncryptionKey is the start-up error for a database whose secrets
// are encrypted when no key is configured.
var ErrNoEncryptionKey = errors.New("the database holds encrypted endpoint secrets but no encryption key is set: " +
	"set HERALD_ENCRYPTION_KEY to the key they were encrypted with")

// KeyCheckValue returns a new key check value for c's current key.
func KeyCheckValue(c SecretCipher) (string, error) { return c.Encrypt(keyCheckPlaintext) }

// CheckKey decides at start-up whether cipher c (nil: no encryption) suits
// a database whose stored key check value is stored (found false: none).
// It returns the value to store when there is none yet and c is set, or
// an error naming the problem: a wrong key, or no key for a database whose
// secrets are encrypted. Without this check a wrong key would only show as
// failing deliveries.
func CheckKey(c SecretCipher, stored string, found bool) (store string, err error) {
	switch {
	case c == nil && !found:
		return "", nil
	case c == nil:
		return "", ErrNoEncryptionKey
	case !found:
		return KeyCheckValue(c)
	}
	plain, err := c.Decrypt(stored)
	if err != nil {
		return "", fmt.Errorf("wrong encryption key: the database's endpoint secrets cannot be decrypted with "+
			"HERALD_ENCRYPTION_KEY or HERALD_ENCRYPTION_OLD_KEYS: %w", err)
	}
	if plain != keyCheckPlaintext {
		return "", errors.New("wrong encryption key: the stored key check value does not match")
	}
	return "", nil
}

// ReencryptSecret returns stored under c's current key: as it is when it
// already is (changed false), else decrypted (a plaintext value as it is)
// and encrypted again. An error means no key of c decrypts it.
func ReencryptSecret(c SecretCipher, stored string) (out string, changed bool, err error) {
	if c.Current(stored) {
		return stored, false, nil
	}
	plain, err := c.Decrypt(stored)
	if err != nil {
		return stored, false, err
	}
	out, err = c.Encrypt(plain)
	return out, err == nil, err
}

// ReencryptBatch re-encrypts the secrets of one batch of endpoints, those
// after ID after, and returns the last ID it read, whether more may
// follow, and what it did. It runs as one store write, so it may run again
// on a retry and must set its results afresh.
type ReencryptBatch func(ctx context.Context, after string) (last string, more bool, done SecretsReencrypted, err error)

// Reencrypt drives a key rotation for a store: it runs batch until every
// endpoint is done, then, unless some secrets were unreadable and
// allowUnreadable is false, stores a key check value for c's current key
// through storeCheck.
func Reencrypt(ctx context.Context, c SecretCipher, allowUnreadable bool, batch ReencryptBatch, storeCheck func(ctx context.Context, value string) error) (SecretsReencrypted, error) {
	var done SecretsReencrypted
	if c == nil {
		return done, Errorf(EInvalid, "no encryption key is set: nothing to re-encrypt with")
	}
	for after, more := "", true; more; {
		last, m, b, err := batch(ctx, after)
		if err != nil {
			return done, err
		}
		after, more = last, m
		done.Endpoints += b.Endpoints
		done.Unreadable += b.Unreadable
	}
	if done.Unreadable > 0 && !allowUnreadable {
		return done, nil
	}
	check, err := KeyCheckValue(c)
	if err != nil {
		return done, err
	}
	return done, storeCheck(ctx, check)
}
