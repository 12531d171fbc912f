package signing

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
)

// Algorithm is the hash function of an HMACScheme.
type Algorithm string

// The supported HMAC hash functions.
const (
	AlgorithmSHA256 Algorithm = "sha256"
	AlgorithmSHA1   Algorithm = "sha1" // legacy providers only
	AlgorithmSHA512 Algorithm = "sha512"
)

// Encoding is how an HMACScheme writes the digest in its header.
type Encoding string

// The supported digest encodings. Base64 and Base64URL are written with
// padding and accepted with or without it.
const (
	EncodingHex       Encoding = "hex"
	EncodingBase64    Encoding = "base64"    // RFC 4648 §4
	EncodingBase64URL Encoding = "base64url" // RFC 4648 §5
)

// HMACScheme describes a provider that sends an HMAC of the raw body in one
// header, such as GitHub's "X-Hub-Signature-256: sha256=<hex>". The HMAC key
// is the secret string as is. There is no timestamp, so such a scheme does
// not protect against replays by itself; deduplicate on the IDHeader.
type HMACScheme struct {
	// Header carries the signature, e.g. "X-Hub-Signature-256". Required.
	Header string
	// Algorithm is the hash. Default AlgorithmSHA256.
	Algorithm Algorithm
	// Encoding of the digest. Default EncodingHex (either case accepted).
	Encoding Encoding
	// Prefix precedes the digest, e.g. "sha256=". Default none.
	Prefix string
	// IDHeader, when set, carries the event id Verify returns, e.g.
	// "X-GitHub-Delivery". Default none: the event id is "".
	IDHeader string
}

// Validate reports every problem with s, each wrapping ErrInvalidScheme.
func (s HMACScheme) Validate() error {
	var errs []error
	if !isToken(s.Header) {
		errs = append(errs, fmt.Errorf("%w: Header %q is not a header name", ErrInvalidScheme, s.Header))
	}
	if s.IDHeader != "" && !isToken(s.IDHeader) {
		errs = append(errs, fmt.Errorf("%w: IDHeader %q is not a header name", ErrInvalidScheme, s.IDHeader))
	}
	if s.hash() == nil {
		errs = append(errs, fmt.Errorf("%w: Algorithm %q is not one of sha256, sha1, sha512", ErrInvalidScheme, s.Algorithm))
	}
	if s.encoding() == nil {
		errs = append(errs, fmt.Errorf("%w: Encoding %q is not one of hex, base64, base64url", ErrInvalidScheme, s.Encoding))
	}
	if strings.ContainsFunc(s.Prefix, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		errs = append(errs, fmt.Errorf("%w: Prefix %q has a space, control or non-ASCII character", ErrInvalidScheme, s.Prefix))
	}
	return errors.Join(errs...)
}

// Sign returns the header value for body signed with secret: Prefix
// followed by the encoded HMAC.
func (s HMACScheme) Sign(secret string, body []byte) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	if secret == "" {
		return "", fmt.Errorf("%w: empty secret", ErrInvalidSecret)
	}
	return s.Prefix + s.encoding().encode(s.mac([]byte(secret), body)), nil
}

// HMACVerifier verifies requests signed with an HMACScheme against one or
// more secrets.
type HMACVerifier struct {
	scheme  HMACScheme
	secrets [][]byte
}

// NewHMACVerifier returns a verifier of scheme for the given secrets
// (several while the sender rotates its secret).
func NewHMACVerifier(scheme HMACScheme, secrets ...string) (*HMACVerifier, error) {
	if err := scheme.Validate(); err != nil {
		return nil, err
	}
	keys, err := rawSecrets(secrets)
	if err != nil {
		return nil, err
	}
	return &HMACVerifier{scheme: scheme, secrets: keys}, nil
}

// Verify implements Verifier. The header must be Prefix followed by a
// digest in the scheme's encoding; anything else is ErrMalformedHeader.
func (v *HMACVerifier) Verify(header http.Header, body []byte) (string, error) {
	s := v.scheme
	value := header.Get(s.Header)
	if value == "" {
		return "", verifyError(s.Header, ErrMissingHeader)
	}
	encoded, ok := strings.CutPrefix(value, s.Prefix)
	if len(value) > MaxHeaderLength || !ok || encoded == "" {
		return "", verifyError(s.Header, ErrMalformedHeader)
	}
	sig, err := s.encoding().decode(encoded)
	if err != nil {
		return "", verifyError(s.Header, ErrMalformedHeader)
	}
	for _, secret := range v.secrets {
		if hmac.Equal(sig, s.mac(secret, body)) {
			if s.IDHeader == "" {
				return "", nil
			}
			return header.Get(s.IDHeader), nil
		}
	}
	return "", verifyError(s.Header, ErrNoMatchingSignature)
}

func (s HMACScheme) mac(secret, body []byte) []byte {
	m := hmac.New(s.hash(), secret)
	m.Write(body)
	return m.Sum(nil)
}

// hash returns the scheme's hash constructor, nil if unknown.
func (s HMACScheme) hash() func() hash.Hash {
	switch s.Algorithm {
	case AlgorithmSHA256, "":
		return sha256.New
	case AlgorithmSHA1:
		return sha1.New
	case AlgorithmSHA512:
		return sha512.New
	}
	return nil
}

// digestCodec encodes and decodes a digest.
type digestCodec struct {
	encode func([]byte) string
	decode func(string) ([]byte, error)
}

var (
	hexCodec    = &digestCodec{hex.EncodeToString, hex.DecodeString}
	base64Codec = &digestCodec{base64.StdEncoding.EncodeToString, func(s string) ([]byte, error) {
		return base64.RawStdEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
	}}
	base64URLCodec = &digestCodec{base64.URLEncoding.EncodeToString, func(s string) ([]byte, error) {
		return base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
	}}
)

// encoding returns the scheme's codec, nil if unknown.
func (s HMACScheme) encoding() *digestCodec {
	switch s.Encoding {
	case EncodingHex, "":
		return hexCodec
	case EncodingBase64:
		return base64Codec
	case EncodingBase64URL:
		return base64URLCodec
	}
	return nil
}

// isToken reports whether s is a valid HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}
