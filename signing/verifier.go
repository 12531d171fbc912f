package signing

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Verifier checks the signature a webhook request carries against its raw
// body. Every scheme (Standard Webhooks, Stripe, GitHub, generic HMAC)
// implements it, so a receiver's middleware works with any of them.
type Verifier interface {
	// Verify checks the signature headers in header against body, byte for
	// byte as received, and returns the event id the sender deduplicates
	// on ("" when the scheme carries none). A failure is a *VerifyError
	// wrapping one of ErrMissingHeader, ErrMalformedHeader,
	// ErrInvalidTimestamp, ErrTimestampTooOld, ErrTimestampTooNew or
	// ErrNoMatchingSignature.
	Verify(header http.Header, body []byte) (eventID string, err error)
}

// StandardVerifier verifies Standard Webhooks requests ("webhook-*" headers,
// or their "svix-*" aliases) against one or more secrets, so a receiver can
// accept both keys while the sender rotates its secret.
type StandardVerifier struct {
	keys []Key
	// Tolerance is how far the timestamp may be from now, either way.
	// Default DefaultTolerance (5 minutes).
	Tolerance time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// NewStandardVerifier returns a verifier for the given secrets: "whsec_"
// (or bare base64) HMAC secrets and "whpk_" (or "whsk_") ed25519 keys.
func NewStandardVerifier(secrets ...string) (*StandardVerifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	keys := make([]Key, 0, len(secrets))
	for _, s := range secrets {
		k, err := ParseKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return &StandardVerifier{keys: keys}, nil
}

// Verify implements Verifier. The event id is the webhook-id header. The
// webhook-* headers are used when all three are present, otherwise the
// svix-* ones if any is (the two sets are not mixed).
func (v *StandardVerifier) Verify(header http.Header, body []byte) (string, error) {
	names := [3]string{HeaderID, HeaderTimestamp, HeaderSignature}
	if header.Get(HeaderID) == "" || header.Get(HeaderTimestamp) == "" || header.Get(HeaderSignature) == "" {
		if header.Get(HeaderSvixID) != "" || header.Get(HeaderSvixTimestamp) != "" || header.Get(HeaderSvixSignature) != "" {
			names = [3]string{HeaderSvixID, HeaderSvixTimestamp, HeaderSvixSignature}
		}
	}
	var values [3]string
	for i, n := range names {
		if values[i] = header.Get(n); values[i] == "" {
			return "", verifyError(n, ErrMissingHeader)
		}
	}
	now, tolerance := time.Now(), v.Tolerance
	if v.Now != nil {
		now = v.Now()
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	err := verifyStandard(v.keys, values[0], values[1], values[2], body, now, tolerance)
	switch {
	case err == nil:
		return values[0], nil
	case errors.Is(err, ErrMalformedHeader), errors.Is(err, ErrNoMatchingSignature):
		return "", verifyError(names[2], err)
	default:
		return "", verifyError(names[1], err)
	}
}
