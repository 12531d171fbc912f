package signing

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrMalformedHeader is returned when a signature header is present but
// cannot be parsed.
var ErrMalformedHeader = errors.New("signing: malformed header")

// Verifier checks the signature a webhook request carries against its raw
// body. Every scheme (Standard Webhooks, Stripe, GitHub, generic HMAC)
// implements it, so a receiver's middleware works with any of them.
type Verifier interface {
	// Verify checks the signature headers in header against body, byte for
	// byte as received, and returns the event id the sender deduplicates
	// on ("" when the scheme carries none). A failure wraps one of
	// ErrMissingHeader, ErrMalformedHeader, ErrInvalidTimestamp,
	// ErrTimestampTooOld, ErrTimestampTooNew or ErrNoMatchingSigning.
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

// Verify implements Verifier. The event id is the webhook-id header.
func (v *StandardVerifier) Verify(header http.Header, body []byte) (string, error) {
	id := firstHeader(header, HeaderID, HeaderSvixID)
	ts := firstHeader(header, HeaderTimestamp, HeaderSvixTimestamp)
	sigs := firstHeader(header, HeaderSignature, HeaderSvixSignature)
	if id == "" || ts == "" || sigs == "" {
		return "", ErrMissingHeader
	}
	now, tolerance := time.Now(), v.Tolerance
	if v.Now != nil {
		now = v.Now()
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var err error
	for _, k := range v.keys {
		if err = Verify(k, id, ts, sigs, body, now, tolerance); err == nil {
			return id, nil
		}
		if !errors.Is(err, ErrNoMatchingSigning) {
			return "", err
		}
	}
	return "", err
}

// firstHeader returns the first of names that header has a value for.
func firstHeader(header http.Header, names ...string) string {
	for _, n := range names {
		if v := header.Get(n); v != "" {
			return v
		}
	}
	return ""
}
