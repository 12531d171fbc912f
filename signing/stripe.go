package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HeaderStripeSignature is the header Stripe signs its webhooks in:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", with one v1 per
// active secret during a rotation (and, in test mode, a v0 entry).
const HeaderStripeSignature = "Stripe-Signature"

// StripeVerifier verifies Stripe webhooks. The HMAC key is the endpoint's
// signing secret string as is ("whsec_..." used as raw bytes, not decoded).
type StripeVerifier struct {
	secrets [][]byte
	// Tolerance is how far the timestamp may be from now, either way.
	// Default DefaultTolerance (5 minutes, as Stripe's libraries).
	Tolerance time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// NewStripeVerifier returns a verifier for one or more Stripe signing
// secrets (several while rolling a secret).
func NewStripeVerifier(secrets ...string) (*StripeVerifier, error) {
	keys, err := rawSecrets(secrets)
	if err != nil {
		return nil, err
	}
	return &StripeVerifier{secrets: keys}, nil
}

// Verify implements Verifier. Only v1 entries are checked (at most
// MaxSignatures); the event id is the JSON body's top-level "id", read
// only once the signature has verified ("" if the body has none).
func (v *StripeVerifier) Verify(header http.Header, body []byte) (string, error) {
	value := header.Get(HeaderStripeSignature)
	if value == "" {
		return "", verifyError(HeaderStripeSignature, ErrMissingHeader)
	}
	var buf [MaxSignatures][]byte
	ts, sigs, err := parseStripeHeader(value, buf[:0])
	if err != nil {
		return "", verifyError(HeaderStripeSignature, err)
	}
	now, tolerance := time.Now(), v.Tolerance
	if v.Now != nil {
		now = v.Now()
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if err := checkWindow(ts, now, tolerance); err != nil {
		return "", verifyError(HeaderStripeSignature, err)
	}
	for _, secret := range v.secrets {
		mac := stripeMAC(secret, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, mac) {
				return topLevelID(body), nil
			}
		}
	}
	return "", verifyError(HeaderStripeSignature, ErrNoMatchingSignature)
}

// SignStripe returns a Stripe-Signature header value for body signed with
// secret at ts: "t=<unix>,v1=<hex>".
func SignStripe(secret string, ts time.Time, body []byte) string {
	mac := stripeMAC([]byte(secret), ts.Unix(), body)
	return "t=" + strconv.FormatInt(ts.Unix(), 10) + ",v1=" + hex.EncodeToString(mac)
}

// parseStripeHeader reads the one "t" and the "v1" signatures (at most
// MaxSignatures, appended to sigs) of a Stripe-Signature value. It is
// malformed when too long, without exactly one t, or without any well-formed
// "v<N>=<hex>" entry; v1 entries that are not hex are ignored, as by
// Stripe's libraries.
func parseStripeHeader(value string, sigs [][]byte) (ts int64, _ [][]byte, err error) {
	if len(value) > MaxHeaderLength {
		return 0, nil, ErrMalformedHeader
	}
	var tsText string
	var seen, wellFormed int
	for item := range strings.SplitSeq(value, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		switch {
		case !ok:
		case key == "t":
			tsText, seen = val, seen+1
		case len(key) > 1 && key[0] == 'v' && isDigits(key[1:]) && val != "":
			raw, err := hex.DecodeString(val)
			if err != nil {
				continue
			}
			wellFormed++
			if key == "v1" && len(sigs) < MaxSignatures {
				sigs = append(sigs, raw)
			}
		}
	}
	if seen != 1 || wellFormed == 0 {
		return 0, nil, ErrMalformedHeader
	}
	if !isDigits(tsText) {
		return 0, nil, ErrInvalidTimestamp
	}
	ts, err = strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return 0, nil, ErrInvalidTimestamp
	}
	return ts, sigs, nil
}

// stripeMAC is HMAC-SHA256(secret, "<ts>.<body>"), streamed so that the
// body is not copied.
func stripeMAC(secret []byte, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	var num [20]byte
	m.Write(strconv.AppendInt(num[:0], ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// topLevelID returns the string value of the top-level "id" member of a
// JSON object, or "" when body is not an object or has no string id.
// Nested objects are skipped, not decoded.
func topLevelID(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "id" {
			var id string
			if dec.Decode(&id) != nil {
				return ""
			}
			return id
		}
		if skipValue(dec) != nil {
			return ""
		}
	}
	return ""
}

// skipValue reads one JSON value from dec, however deeply nested.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// rawSecrets returns secrets as byte slices, rejecting none or an empty one.
func rawSecrets(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		if s == "" {
			return nil, fmt.Errorf("%w: empty secret", ErrInvalidSecret)
		}
		keys = append(keys, []byte(s))
	}
	return keys, nil
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
