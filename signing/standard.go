package signing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verify checks a Standard Webhooks message's id, timestamp and signature
// header values against body with key, accepting the timestamp within
// tolerance of now either way. It succeeds when any listed signature of the
// key's version matches; at most MaxSignatures are checked. It returns one
// of the sentinel errors (not a *VerifyError; StandardVerifier adds the
// header names).
func Verify(key Key, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	return verifyStandard([]Key{key}, msgID, timestamp, signatures, body, now, tolerance)
}

// SetHeaders signs a message with every one of keys and sets the
// webhook-id, webhook-timestamp and webhook-signature headers on h.
func SetHeaders(h http.Header, keys []Key, msgID string, ts time.Time, body []byte) error {
	sig, err := SignatureHeader(keys, msgID, ts, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// verifyStandard is Verify for several keys: the header is parsed and the
// signed content built once, then each key is tried against each entry.
func verifyStandard(keys []Key, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	if msgID == "" || timestamp == "" || signatures == "" {
		return ErrMissingHeader
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	var buf [MaxSignatures]standardSig
	sigs, err := parseStandardSignatures(signatures, buf[:0])
	if err != nil {
		return err
	}
	if err := checkWindow(ts, now, tolerance); err != nil {
		return err
	}
	content := signedContent(msgID, ts, body)
	for _, k := range keys {
		if k.matchesAny(sigs, content) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// standardSig is one "<version>,<base64>" entry of a signature header.
type standardSig struct {
	version string
	sig     []byte
}

// parseStandardSignatures appends to sigs the entries of a webhook-signature
// header that are "<version>,<base64>" with both parts non-empty, at most
// MaxSignatures. A header too long or without any such entry is malformed.
func parseStandardSignatures(header string, sigs []standardSig) ([]standardSig, error) {
	if len(header) > MaxHeaderLength {
		return nil, ErrMalformedHeader
	}
	for field := range strings.FieldsSeq(header) {
		if len(sigs) == MaxSignatures {
			break
		}
		version, encoded, ok := strings.Cut(field, ",")
		if !ok || version == "" || encoded == "" {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(encoded)
		if err != nil {
			continue
		}
		sigs = append(sigs, standardSig{version: version, sig: raw})
	}
	if len(sigs) == 0 {
		return nil, ErrMalformedHeader
	}
	return sigs, nil
}

// matchesAny reports whether any entry of sigs is k's signature of content.
// The HMAC is computed once; every comparison is constant-time.
func (k Key) matchesAny(sigs []standardSig, content []byte) bool {
	var mac []byte
	if k.hmac != nil {
		mac = hmacSum(k.hmac, content)
	}
	for _, s := range sigs {
		switch {
		case s.version == VersionHMAC && mac != nil:
			if hmac.Equal(s.sig, mac) {
				return true
			}
		case s.version == VersionEd25519 && k.public != nil && len(s.sig) == ed25519.SignatureSize:
			if ed25519.Verify(k.public, content, s.sig) {
				return true
			}
		}
	}
	return false
}

// checkWindow reports whether ts (Unix seconds) is within tolerance of now,
// either way. The distance is computed in uint64, which holds the
// difference of any two int64s, so extreme values cannot overflow.
func checkWindow(ts int64, now time.Time, tolerance time.Duration) error {
	tol, n := uint64(tolerance/time.Second), now.Unix()
	switch {
	case ts < n && uint64(n)-uint64(ts) > tol:
		return ErrTimestampTooOld
	case ts > n && uint64(ts)-uint64(n) > tol:
		return ErrTimestampTooNew
	}
	return nil
}
