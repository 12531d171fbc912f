package secretbox

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald"
)

func key(t *testing.T, b byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{b}, KeySize)
}

func TestRoundTripAndFormat(t *testing.T) {
	box, err := New(key(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	a, err := box.Encrypt(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := box.Encrypt(secret)
	if a == b {
		t.Fatal("two encryptions of one value are equal: the nonce is not random")
	}
	if !strings.HasPrefix(a, "enc:v1:"+KeyID(key(t, 1))+":") || strings.Contains(a, "MfKQ9r8") {
		t.Fatalf("stored form %q", a)
	}
	if !herald.IsEncryptedSecret(a) || !box.Current(a) || box.Current(secret) {
		t.Fatal("IsEncryptedSecret/Current wrong")
	}
	for _, v := range []string{a, b} {
		got, err := box.Decrypt(v)
		if err != nil || got != secret {
			t.Fatalf("Decrypt = %q, %v", got, err)
		}
	}
	if got, err := box.Decrypt(secret); err != nil || got != secret {
		t.Fatalf("plaintext passes through: %q, %v", got, err)
	}
}

func TestRotationAndWrongKeys(t *testing.T) {
	oldBox, _ := New(key(t, 1))
	stored, _ := oldBox.Encrypt("whsec_x")
	rotated, err := New(key(t, 2), key(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Decrypt(stored); err != nil || got != "whsec_x" {
		t.Fatalf("old key does not decrypt: %q, %v", got, err)
	}
	if rotated.Current(stored) {
		t.Fatal("a value under an old key reads as current")
	}
	wrong, _ := New(key(t, 3))
	_, err = wrong.Decrypt(stored)
	if err == nil || !strings.Contains(err.Error(), KeyID(key(t, 1))) {
		t.Fatalf("wrong key: %v", err)
	}
	// Tampering with the ciphertext fails authentication.
	tampered := stored[:len(stored)-2] + "AA"
	if tampered != stored {
		if _, err := oldBox.Decrypt(tampered); err == nil {
			t.Fatal("a tampered value decrypts")
		}
	}
	for _, bad := range []string{"enc:v9:abc:def", "enc:v1:" + KeyID(key(t, 1)) + ":!!", "enc:v1:nocolon"} {
		if _, err := oldBox.Decrypt(bad); err == nil {
			t.Fatalf("%q decrypts", bad)
		}
	}
}

func TestFromConfig(t *testing.T) {
	cur, old := NewKey(), NewKey()
	if b, err := FromConfig("", ""); b != nil || err != nil {
		t.Fatalf("no key: %v, %v", b, err)
	}
	if _, err := FromConfig("", old); err == nil {
		t.Fatal("old keys without a current key accepted")
	}
	b, err := FromConfig(cur, " "+old+" ,")
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := FromConfig(old, "")
	v, _ := ob.Encrypt("whsec_y")
	if got, err := b.Decrypt(v); err != nil || got != "whsec_y" {
		t.Fatalf("old key from config: %q, %v", got, err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	for _, bad := range []string{"not base64!", short} {
		_, err := FromConfig(bad, "")
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Fatalf("bad key %q: %v (the error must not repeat it)", bad, err)
		}
	}
	if _, err := FromConfig(cur, short); err == nil || !strings.Contains(err.Error(), "encryption-old-keys") {
		t.Fatalf("bad old key: %v", err)
	}
}
