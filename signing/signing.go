package signing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key prefixes of the Standard Webhooks secret formats.
const (
	PrefixSymmetric  = "whsec_" // HMAC-SHA256 secret
	PrefixSecretKey  = "whsk_"  // ed25519 private key (seed+public)
	PrefixPublicKey  = "whpk_"  // ed25519 public key
	VersionHMAC      = "v1"
	VersionEd25519   = "v1a"
	DefaultTolerance = 5 * time.Minute
)

// Header names of Standard Webhooks and their Svix aliases.
const (
	HeaderID            = "webhook-id"
	HeaderTimestamp     = "webhook-timestamp"
	HeaderSignature     = "webhook-signature"
	HeaderSvixID        = "svix-id"
	HeaderSvixTimestamp = "svix-timestamp"
	HeaderSvixSignature = "svix-signature"
)

// Key is a parsed signing secret.
type Key struct {
	hmac    []byte             // for v1
	private ed25519.PrivateKey // for v1a signing
	public  ed25519.PublicKey  // for v1a verifying
}

// ParseKey parses a secret: "whsec_" + base64 (or bare base64) for HMAC,
// "whsk_" + base64 of a 64-byte ed25519 private key, or "whpk_" + base64 of
// a 32-byte ed25519 public key (verify only).
func ParseKey(secret string) (Key, error) {
	switch {
	case strings.HasPrefix(secret, "enc:"):
		// A secret Herald stores encrypted, read without the key it was
		// encrypted with (see HERALD_ENCRYPTION_KEY).
		return Key{}, fmt.Errorf("%w: the secret is stored encrypted with a key this server does not have "+
			"(HERALD_ENCRYPTION_KEY, HERALD_ENCRYPTION_OLD_KEYS); rotate the endpoint's secret", ErrInvalidSecret)
	case strings.HasPrefix(secret, PrefixSecretKey):
		raw, err := base64.StdEncoding.DecodeString(secret[len(PrefixSecretKey):])
		if err != nil || len(raw) != ed25519.PrivateKeySize {
			return Key{}, fmt.Errorf("%w: whsk_ key must be base64 of %d bytes", ErrInvalidSecret, ed25519.PrivateKeySize)
		}
		priv := ed25519.PrivateKey(raw)
		return Key{private: priv, public: priv.Public().(ed25519.PublicKey)}, nil
	case strings.HasPrefix(secret, PrefixPublicKey):
		raw, err := base64.StdEncoding.DecodeString(secret[len(PrefixPublicKey):])
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return Key{}, fmt.Errorf("%w: whpk_ key must be base64 of %d bytes", ErrInvalidSecret, ed25519.PublicKeySize)
		}
		return Key{public: ed25519.PublicKey(raw)}, nil
	default:
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, PrefixSymmetric))
		if err != nil || len(raw) == 0 {
			return Key{}, fmt.Errorf("%w: whsec_ secret must be non-empty base64", ErrInvalidSecret)
		}
		return Key{hmac: raw}, nil
	}
}

// IsAsymmetric reports whether k is an ed25519 key.
func (k Key) IsAsymmetric() bool { return k.public != nil }

// PublicKey returns the "whpk_" form of an ed25519 key, or "" for HMAC.
func (k Key) PublicKey() string {
	if k.public == nil {
		return ""
	}
	return PrefixPublicKey + base64.StdEncoding.EncodeToString(k.public)
}

// Sign returns the "v1,<base64>" or "v1a,<base64>" signature of one message.
// It fails for a verify-only public key.
func (k Key) Sign(msgID string, ts time.Time, body []byte) (string, error) {
	var b strings.Builder
	if err := k.appendSignature(&b, msgID, ts.Unix(), body); err != nil {
		return "", err
	}
	return b.String(), nil
}

// SignatureHeader returns the webhook-signature value for a message signed
// with every one of keys, space-separated.
func SignatureHeader(keys []Key, msgID string, ts time.Time, body []byte) (string, error) {
	var b strings.Builder
	b.Grow(len(keys) * (len(VersionEd25519) + 1 + base64.StdEncoding.EncodedLen(ed25519.SignatureSize) + 1))
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		if err := k.appendSignature(&b, msgID, ts.Unix(), body); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// contentBuffers holds buffers for the signed content, so that signing a
// delivery does not allocate a copy of its body each time.
var contentBuffers = sync.Pool{New: func() any { return new([]byte) }}

// appendSignature writes "<version>,<base64 signature>" to b.
func (k Key) appendSignature(b *strings.Builder, msgID string, ts int64, body []byte) error {
	if k.hmac == nil && k.private == nil {
		return fmt.Errorf("%w: a public key cannot sign", ErrInvalidSecret)
	}
	buf := contentBuffers.Get().(*[]byte)
	defer contentBuffers.Put(buf)
	*buf = appendSignedContent((*buf)[:0], msgID, ts, body)
	var raw [ed25519.SignatureSize]byte
	sig, version := raw[:0], VersionHMAC
	if k.hmac != nil {
		m := hmac.New(sha256.New, k.hmac)
		m.Write(*buf)
		sig = m.Sum(sig)
	} else {
		sig, version = append(sig, ed25519.Sign(k.private, *buf)...), VersionEd25519
	}
	var enc [88]byte // base64 of at most 64 bytes
	n := base64.StdEncoding.EncodedLen(len(sig))
	base64.StdEncoding.Encode(enc[:n], sig)
	b.WriteString(version)
	b.WriteByte(',')
	b.Write(enc[:n])
	return nil
}

// NewSecret returns a new HMAC secret: "whsec_" + base64 of 24 random bytes.
func NewSecret() string {
	var b [24]byte
	mustRead(b[:])
	return PrefixSymmetric + base64.StdEncoding.EncodeToString(b[:])
}

// NewKeyPair returns a new ed25519 secret key ("whsk_...") and its public
// key ("whpk_...").
func NewKeyPair() (secretKey, publicKey string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("signing: crypto/rand failed: " + err.Error())
	}
	return PrefixSecretKey + base64.StdEncoding.EncodeToString(priv),
		PrefixPublicKey + base64.StdEncoding.EncodeToString(pub)
}

func signedContent(msgID string, ts int64, body []byte) []byte {
	return appendSignedContent(make([]byte, 0, len(msgID)+len(body)+24), msgID, ts, body)
}

// appendSignedContent appends "<msgID>.<ts>.<body>", what is signed.
func appendSignedContent(b []byte, msgID string, ts int64, body []byte) []byte {
	b = append(b, msgID...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '.')
	return append(b, body...)
}

func hmacSum(key, content []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(content)
	return m.Sum(nil)
}

func mustRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("signing: crypto/rand failed: " + err.Error())
	}
}
