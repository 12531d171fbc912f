package signing

import (
	"errors"
	"strings"
)

// Errors returned by the verifiers and the key parsers. A verifier's error
// is a *VerifyError that wraps one of them, so test it with errors.Is.
//
// A signature header that is present but too long (over MaxHeaderLength)
// or holds no entry in the scheme's syntax at all is ErrMalformedHeader. A
// header with at least one well-formed entry, none of which matches a
// secret (including entries of versions this package does not verify, such
// as Stripe's "v0" or a future Standard Webhooks "v2"), is
// ErrNoMatchingSignature.
var (
	// ErrInvalidSecret: a secret or key cannot be parsed or is empty.
	ErrInvalidSecret = errors.New("signing: invalid secret")
	// ErrMissingHeader: a required header is absent or empty.
	ErrMissingHeader = errors.New("signing: missing header")
	// ErrMalformedHeader: a signature header is too long or has no entry
	// in the scheme's syntax.
	ErrMalformedHeader = errors.New("signing: malformed header")
	// ErrInvalidTimestamp: the timestamp is not an integer of Unix seconds.
	ErrInvalidTimestamp = errors.New("signing: invalid timestamp")
	// ErrTimestampTooOld: the timestamp is older than the tolerance allows.
	ErrTimestampTooOld = errors.New("signing: timestamp too old")
	// ErrTimestampTooNew: the timestamp is further in the future than the
	// tolerance allows.
	ErrTimestampTooNew = errors.New("signing: timestamp too new")
	// ErrNoMatchingSignature: no signature in the header matches the body
	// under any of the secrets.
	ErrNoMatchingSignature = errors.New("signing: no matching signature")
	// ErrInvalidScheme: an HMACScheme's configuration is invalid.
	ErrInvalidScheme = errors.New("signing: invalid HMAC scheme")
)

// ErrNoMatchingSigning is the former name of ErrNoMatchingSignature; both
// are the same value, so errors.Is matches either.
//
// Deprecated: use ErrNoMatchingSignature.
var ErrNoMatchingSigning = ErrNoMatchingSignature

// Bounds on the work one request can cause, so that a hostile header cannot
// make verification slow.
const (
	// MaxHeaderLength is the longest signature header accepted, in bytes;
	// a longer one is ErrMalformedHeader.
	MaxHeaderLength = 4096
	// MaxSignatures is how many signatures of one header are checked;
	// further entries are ignored.
	MaxSignatures = 16
)

// VerifyError is the error a Verifier returns: which header failed and why.
// Err is one of the sentinel errors above, and errors.Is sees through it.
// Its text is for logs, not for the client that sent the request.
type VerifyError struct {
	Header string // the header at fault, e.g. "webhook-signature"
	Err    error  // ErrMissingHeader, ErrMalformedHeader, ...
}

// Error returns, e.g., "signing: webhook-timestamp: timestamp too old".
func (e *VerifyError) Error() string {
	return "signing: " + e.Header + ": " + strings.TrimPrefix(e.Err.Error(), "signing: ")
}

// Unwrap returns the sentinel error.
func (e *VerifyError) Unwrap() error { return e.Err }

// verifyError wraps err (nil stays nil) with the header it concerns.
func verifyError(header string, err error) error {
	if err == nil {
		return nil
	}
	return &VerifyError{Header: header, Err: err}
}
