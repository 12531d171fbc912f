package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/herald-webhooks/herald"
)

// KeySize is the size of a key in bytes (AES-256).
const KeySize = 32

// version is the stored format: herald.EncryptedSecretPrefix + version.
const version = "v1"

// prefix starts every value this package writes.
const prefix = herald.EncryptedSecretPrefix + version + ":"

// Box is a herald.SecretCipher: it encrypts with its current key and
// decrypts with the current key or any old one. Safe for concurrent use.
type Box struct {
	current string                 // ID of the current key
	aeads   map[string]cipher.AEAD // by key ID
}

var _ herald.SecretCipher = (*Box)(nil)

// NewKey returns a new random key, encoded as ParseKey reads it.
func NewKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand's Read never fails
	return base64.StdEncoding.EncodeToString(b)
}

// ParseKey decodes a key: the standard base64 encoding of 32 bytes, as
// "openssl rand -base64 32" prints it. Its error never repeats the key.
func ParseKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not valid base64 (generate a key with: herald gen-key, or openssl rand -base64 32)")
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("%d bytes once decoded, want %d (generate a key with: herald gen-key, or openssl rand -base64 32)", len(b), KeySize)
	}
	return b, nil
}

// KeyID returns the ID of a key: the first 8 hex digits of the SHA-256 of
// "herald key id" and the key. It tells keys apart and reveals nothing of
// the key.
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("herald key id\x00"), key...))
	return hex.EncodeToString(h[:4])
}

// New returns a Box that encrypts with current and decrypts with current or
// any of old (each KeySize bytes).
func New(current []byte, old ...[]byte) (*Box, error) {
	b := &Box{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{current}, old...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		id := KeyID(k)
		if i == 0 {
			b.current = id
		}
		b.aeads[id] = aead
	}
	return b, nil
}

// CurrentKeyID returns the ID of the key Encrypt uses.
func (b *Box) CurrentKeyID() string { return b.current }

// Encrypt implements herald.SecretCipher with a random 96-bit nonce per
// value; the key ID is authenticated as additional data.
func (b *Box) Encrypt(plaintext string) (string, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secretbox: nonce: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(plaintext), []byte(b.current))
	return prefix + b.current + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Decrypt implements herald.SecretCipher. Its errors name the key ID a
// value needs, never any part of a key or of the plaintext.
func (b *Box) Decrypt(stored string) (string, error) {
	if !herald.IsEncryptedSecret(stored) {
		return stored, nil
	}
	id, data, ok := split(stored)
	if !ok {
		return "", errors.New("secretbox: malformed encrypted value (unknown version or layout)")
	}
	aead, ok := b.aeads[id]
	if !ok {
		return "", fmt.Errorf("secretbox: encrypted with key %s, which is neither the current key (%s) nor an old key configured", id, b.current)
	}
	sealed, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil || len(sealed) < aead.NonceSize()+aead.Overhead() {
		return "", errors.New("secretbox: malformed encrypted value")
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", fmt.Errorf("secretbox: value under key %s fails authentication (corrupted, or a different key with a colliding ID)", id)
	}
	return string(plain), nil
}

// Current implements herald.SecretCipher.
func (b *Box) Current(stored string) bool {
	id, _, ok := split(stored)
	return ok && id == b.current
}

// split returns the key ID and the base64 data of an encrypted value.
func split(stored string) (id, data string, ok bool) {
	rest, ok := strings.CutPrefix(stored, prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

// FromConfig returns the Box for HERALD_ENCRYPTION_KEY (current) and
// HERALD_ENCRYPTION_OLD_KEYS (old, comma-separated), or nil when current
// is empty. Its errors name the setting at fault, never a key.
func FromConfig(current, old string) (*Box, error) {
	if strings.TrimSpace(current) == "" {
		if strings.TrimSpace(old) != "" {
			return nil, errors.New("encryption-old-keys is set without encryption-key: old keys only decrypt, set the current key too")
		}
		return nil, nil
	}
	cur, err := ParseKey(current)
	if err != nil {
		return nil, fmt.Errorf("encryption-key: %w", err)
	}
	var olds [][]byte
	for i, s := range strings.Split(old, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("encryption-old-keys: key %d: %w", i+1, err)
		}
		olds = append(olds, k)
	}
	return New(cur, olds...)
}
