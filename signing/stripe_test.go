package signing_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// Stripe vectors. Stripe's official SDK tests (stripe-go webhook/client_test.go)
// compute their signatures at run time and publish no fixed vector, so:
//   - stripeVec* was computed independently with
//     printf '1614265330.{"test": 2432232314}' | openssl dgst -sha256 -hmac whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
//     (the secret string used as is, "whsec_" included, not base64-decoded);
//   - "secret", t=123, body "hello" -> f89c0a0e... is the vector of the
//     typeclasses/stripe Haskell library's tests (stripe-signature/test/test.hs),
//     also checked with openssl;
//   - stripeDocsHeader is the example header of Stripe's webhook documentation
//     (quoted in the same tests); its secret and body are unpublished, so it
//     only shows that such a header parses.
const (
	stripeVecSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stripeVecBody    = `{"test": 2432232314}`
	stripeVecHeader  = "t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"
	stripeHelloSig   = "f89c0a0e96fa6304a7ebd5ecaf13bc1beb859577cd7cafb7bdbc43c3bc2f6afa"
	stripeDocsHeader = "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
)

func stripeVerifier(t *testing.T, now int64, secrets ...string) *signing.StripeVerifier {
	t.Helper()
	v, err := signing.NewStripeVerifier(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return time.Unix(now, 0) }
	return v
}

func stripeHeader(value string) http.Header {
	h := http.Header{}
	if value != "" {
		h.Set("Stripe-Signature", value)
	}
	return h
}

func TestSignStripeVectors(t *testing.T) {
	if got := signing.SignStripe(stripeVecSecret, time.Unix(1614265330, 0), []byte(stripeVecBody)); got != stripeVecHeader {
		t.Errorf("SignStripe = %q, want %q", got, stripeVecHeader)
	}
	if got := signing.SignStripe("secret", time.Unix(123, 0), []byte("hello")); got != "t=123,v1="+stripeHelloSig {
		t.Errorf("SignStripe(secret, 123, hello) = %q", got)
	}
}

func TestStripeVerifier(t *testing.T) {
	const now = 1614265330
	other := "whsec_other"
	body := `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","data":{"object":{"id":"pi_1"}}}`
	signed := signing.SignStripe(stripeVecSecret, time.Unix(now, 0), []byte(body))
	rotated := signed + ",v1=" + signing.SignStripe(other, time.Unix(now, 0), []byte(body))[len("t=1614265330,v1="):]
	tests := []struct {
		name, header, body string
		secrets            []string
		now                int64
		wantID             string
		want               error
	}{
		{"vector", stripeVecHeader, stripeVecBody, []string{stripeVecSecret}, now, "", nil},
		{"hello vector", "t=123,v1=" + stripeHelloSig, "hello", []string{"secret"}, 123, "", nil},
		{"event id", signed, body, []string{stripeVecSecret}, now, "evt_1NG8Du2eZvKYlo2CUI79vXWy", nil},
		{"rolled secret, old", rotated, body, []string{stripeVecSecret}, now, "evt_1NG8Du2eZvKYlo2CUI79vXWy", nil},
		{"rolled secret, new", rotated, body, []string{other}, now, "evt_1NG8Du2eZvKYlo2CUI79vXWy", nil},
		{"second of two secrets", signed, body, []string{other, stripeVecSecret}, now, "evt_1NG8Du2eZvKYlo2CUI79vXWy", nil},
		{"spaces and extra keys", "t=1614265330, v0=abcd, v1=zz, v1=" + stripeVecHeader[len("t=1614265330,v1="):], stripeVecBody, []string{stripeVecSecret}, now, "", nil},
		{"docs header parses", stripeDocsHeader, "{}", []string{stripeVecSecret}, 1492774577, "", signing.ErrNoMatchingSignature},
		{"wrong secret", stripeVecHeader, stripeVecBody, []string{other}, now, "", signing.ErrNoMatchingSignature},
		{"decoded secret is not the key", stripeVecHeader, stripeVecBody, []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, now, "", signing.ErrNoMatchingSignature},
		{"tampered body", stripeVecHeader, `{"test": 2432232315}`, []string{stripeVecSecret}, now, "", signing.ErrNoMatchingSignature},
		{"other t", strings.Replace(stripeVecHeader, "t=1614265330", "t=1614265331", 1), stripeVecBody, []string{stripeVecSecret}, now, "", signing.ErrNoMatchingSignature},
		{"v0 only", "t=1614265330,v0=" + stripeVecHeader[len("t=1614265330,v1="):], stripeVecBody, []string{stripeVecSecret}, now, "", signing.ErrNoMatchingSignature},
		{"stale", stripeVecHeader, stripeVecBody, []string{stripeVecSecret}, now + 301, "", signing.ErrTimestampTooOld},
		{"future", stripeVecHeader, stripeVecBody, []string{stripeVecSecret}, now - 301, "", signing.ErrTimestampTooNew},
		{"edge of tolerance", stripeVecHeader, stripeVecBody, []string{stripeVecSecret}, now + 300, "", nil},
		{"empty", "", stripeVecBody, []string{stripeVecSecret}, now, "", signing.ErrMissingHeader},
		{"no t", "v1=" + stripeHelloSig, "hello", []string{"secret"}, 123, "", signing.ErrMalformedHeader},
		{"two t", "t=123,t=124,v1=" + stripeHelloSig, "hello", []string{"secret"}, 123, "", signing.ErrMalformedHeader},
		{"no signature", "t=123", "hello", []string{"secret"}, 123, "", signing.ErrMalformedHeader},
		{"only unreadable v1", "t=123,v1=xyz", "hello", []string{"secret"}, 123, "", signing.ErrMalformedHeader},
		{"svix-style header", "v1,Zm9v", "hello", []string{"secret"}, 123, "", signing.ErrMalformedHeader},
		{"bad t", "t=12a,v1=" + stripeHelloSig, "hello", []string{"secret"}, 123, "", signing.ErrInvalidTimestamp},
		{"signed t", "t=+123,v1=" + stripeHelloSig, "hello", []string{"secret"}, 123, "", signing.ErrInvalidTimestamp},
		{"too long", stripeVecHeader + strings.Repeat(",x=1", signing.MaxHeaderLength), stripeVecBody, []string{stripeVecSecret}, now, "", signing.ErrMalformedHeader},
		{"valid after 16 others", "t=123" + strings.Repeat(",v1=00", signing.MaxSignatures) + ",v1=" + stripeHelloSig, "hello", []string{"secret"}, 123, "", signing.ErrNoMatchingSignature},
	}
	for _, tc := range tests {
		id, err := stripeVerifier(t, tc.now, tc.secrets...).Verify(stripeHeader(tc.header), []byte(tc.body))
		if !errors.Is(err, tc.want) || id != tc.wantID {
			t.Errorf("%s: Verify = %q, %v; want %q, %v", tc.name, id, err, tc.wantID, tc.want)
		}
		var ve *signing.VerifyError
		if err != nil && (!errors.As(err, &ve) || ve.Header != "Stripe-Signature") {
			t.Errorf("%s: error %v does not name Stripe-Signature", tc.name, err)
		}
	}
}

func TestStripeEventID(t *testing.T) {
	now := time.Unix(1614265330, 0)
	v := stripeVerifier(t, now.Unix(), "sk")
	for body, want := range map[string]string{
		`{"data":{"id":"nested"},"list":[{"id":"x"},[1,2]],"id":"evt_1"}`: "evt_1",
		`{"ID":"evt_upper"}`:  "",
		`{"id":12}`:           "",
		`["id","evt_1"]`:      "",
		`not json`:            "",
		`{"object":"event"}`:  "",
		` { "id" : "evt_2" }`: "evt_2",
	} {
		id, err := v.Verify(stripeHeader(signing.SignStripe("sk", now, []byte(body))), []byte(body))
		if err != nil || id != want {
			t.Errorf("body %s: Verify = %q, %v; want %q", body, id, err, want)
		}
	}
}

func TestNewStripeVerifierRejects(t *testing.T) {
	for _, secrets := range [][]string{nil, {""}, {"whsec_a", ""}} {
		if _, err := signing.NewStripeVerifier(secrets...); !errors.Is(err, signing.ErrInvalidSecret) {
			t.Errorf("NewStripeVerifier(%q) = %v, want ErrInvalidSecret", secrets, err)
		}
	}
}
