package signing

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecV1     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vecSK     = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	vecPK     = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	vecV1a    = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey(%q): %v", s, err)
	}
	return k
}

func TestSignVectors(t *testing.T) {
	ts := time.Unix(vecTS, 0)
	for _, tc := range []struct{ secret, want string }{{vecSecret, vecV1}, {vecSK, vecV1a}} {
		got, err := mustKey(t, tc.secret).Sign(vecID, ts, []byte(vecBody))
		if err != nil || got != tc.want {
			t.Errorf("Sign with %.10s... = %q, %v; want %q", tc.secret, got, err, tc.want)
		}
	}
	if pk := mustKey(t, vecSK).PublicKey(); pk != vecPK {
		t.Errorf("PublicKey = %q, want %q", pk, vecPK)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(vecTS, 0)
	hm := mustKey(t, vecSecret)
	pub := mustKey(t, vecPK)
	tests := []struct {
		name string
		key  Key
		ts   string
		sigs string
		body string
		now  time.Time
		want error
	}{
		{"v1 vector", hm, "1614265330", vecV1, vecBody, now, nil},
		{"v1a vector", pub, "1614265330", vecV1a, vecBody, now, nil},
		{"one valid among invalid", hm, "1614265330", "v1,Zm9v v1a,Zm9v " + vecV1, vecBody, now, nil},
		{"tampered body", hm, "1614265330", vecV1, `{"test": 2432232315}`, now, ErrNoMatchingSignature},
		{"empty v1", hm, "1614265330", "v1,", vecBody, now, ErrMalformedHeader},
		{"no comma", hm, "1614265330", "v1" + vecV1[3:], vecBody, now, ErrMalformedHeader},
		{"not base64", hm, "1614265330", "v1,!!!!", vecBody, now, ErrMalformedHeader},
		{"too long", hm, "1614265330", vecV1 + strings.Repeat(" ", MaxHeaderLength), vecBody, now, ErrMalformedHeader},
		{"valid after 16 others", hm, "1614265330", strings.Repeat("v1,Zm9v ", MaxSignatures) + vecV1, vecBody, now, ErrNoMatchingSignature},
		{"valid as 16th", hm, "1614265330", strings.Repeat("v1,Zm9v ", MaxSignatures-1) + vecV1, vecBody, now, nil},
		{"wrong secret", mustKey(t, NewSecret()), "1614265330", vecV1, vecBody, now, ErrNoMatchingSignature},
		{"v1a under HMAC key", hm, "1614265330", vecV1a, vecBody, now, ErrNoMatchingSignature},
		{"v1 under ed25519 key", pub, "1614265330", vecV1, vecBody, now, ErrNoMatchingSignature},
		{"tampered v1a body", pub, "1614265330", vecV1a, `{"test": 2432232315}`, now, ErrNoMatchingSignature},
		{"other timestamp", hm, "1614265331", vecV1, vecBody, now, ErrNoMatchingSignature},
		{"just inside old", hm, "1614265330", vecV1, vecBody, now.Add(5 * time.Minute), nil},
		{"just inside new", hm, "1614265330", vecV1, vecBody, now.Add(-5 * time.Minute), nil},
		{"extreme old", hm, "-9223372036854775808", vecV1, vecBody, now, ErrTimestampTooOld},
		{"extreme new", hm, "9223372036854775807", vecV1, vecBody, now, ErrTimestampTooNew},
		{"wrong version", hm, "1614265330", "v2," + vecV1[3:], vecBody, now, ErrNoMatchingSignature},
		{"too old", hm, "1614265330", vecV1, vecBody, now.Add(6 * time.Minute), ErrTimestampTooOld},
		{"too new", hm, "1614265330", vecV1, vecBody, now.Add(-6 * time.Minute), ErrTimestampTooNew},
		{"bad timestamp", hm, "abc", vecV1, vecBody, now, ErrInvalidTimestamp},
		{"missing", hm, "1614265330", "", vecBody, now, ErrMissingHeader},
	}
	for _, tc := range tests {
		err := Verify(tc.key, vecID, tc.ts, tc.sigs, []byte(tc.body), tc.now, DefaultTolerance)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestSignatureHeaderAllocs pins the sender's allocation profile: signing
// one delivery with one HMAC key made 7 allocations when measured.
func TestSignatureHeaderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	key := mustKey(t, vecSecret)
	keys := []Key{key}
	body := bytes.Repeat([]byte("x"), 1024)
	now := time.Unix(vecTS, 0)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := SignatureHeader(keys, vecID, now, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 7 {
		t.Errorf("SignatureHeader makes %v allocations, want at most 7", allocs)
	}
}

func TestSetHeaders(t *testing.T) {
	h := http.Header{}
	if err := SetHeaders(h, []Key{mustKey(t, vecSecret)}, vecID, time.Unix(vecTS, 0), []byte(vecBody)); err != nil {
		t.Fatal(err)
	}
	if h.Get("webhook-id") != vecID || h.Get("webhook-timestamp") != "1614265330" || h.Get("webhook-signature") != vecV1 {
		t.Fatalf("SetHeaders set %v", h)
	}
	if err := SetHeaders(http.Header{}, []Key{mustKey(t, vecPK)}, vecID, time.Unix(vecTS, 0), nil); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("SetHeaders with a public key: %v, want ErrInvalidSecret", err)
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_!!!", "whsk_AAAA", "whpk_AAAA"} {
		if _, err := ParseKey(s); !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("ParseKey(%q) = %v, want ErrInvalidSecret", s, err)
		}
	}
}

// TestReferenceLibraryVerifies checks our signatures with the reference
// Standard Webhooks Go library, including a header carrying two secrets.
func TestReferenceLibraryVerifies(t *testing.T) {
	newer := NewSecret()
	keys := []Key{mustKey(t, newer), mustKey(t, vecSecret)}
	now := time.Now()
	body := []byte(`{"type":"user.created","data":{"id":1}}`)
	header, err := SignatureHeader(keys, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{newer, vecSecret} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(HeaderID, "msg_1")
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, header)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("reference library rejects signature for %.10s...: %v", secret, err)
		}
	}
}

// TestReferenceLibrarySigns checks that StandardVerifier accepts what the
// reference library signs, with webhook-* and svix-* headers, and rejects
// it when the body is changed.
func TestReferenceLibrarySigns(t *testing.T) {
	secret := NewSecret()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewStandardVerifier(NewSecret(), secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"invoice.paid","data":{"amount":1200}}`)
	sig, err := wh.Sign("msg_ref", now, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, names := range [][3]string{{HeaderID, HeaderTimestamp, HeaderSignature}, {HeaderSvixID, HeaderSvixTimestamp, HeaderSvixSignature}} {
		h := http.Header{}
		h.Set(names[0], "msg_ref")
		h.Set(names[1], strconv.FormatInt(now.Unix(), 10))
		h.Set(names[2], sig)
		if id, err := v.Verify(h, body); err != nil || id != "msg_ref" {
			t.Errorf("%s: Verify of the reference signature = %q, %v", names[2], id, err)
		}
		if _, err := v.Verify(h, append(body, ' ')); !errors.Is(err, ErrNoMatchingSignature) {
			t.Errorf("%s: Verify of a changed body = %v, want ErrNoMatchingSignature", names[2], err)
		}
	}
}

func TestNewSecretShape(t *testing.T) {
	k := mustKey(t, NewSecret())
	if len(k.hmac) != 24 {
		t.Fatalf("NewSecret has %d bytes, want 24", len(k.hmac))
	}
	sk, pk := NewKeyPair()
	if got := mustKey(t, sk).PublicKey(); got != pk {
		t.Fatalf("NewKeyPair public key mismatch")
	}
}

// BenchmarkSignatureHeader measures signing one 1 KiB delivery with one
// HMAC key, as the sender does for every attempt.
func BenchmarkSignatureHeader(b *testing.B) {
	key, err := ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1024)
	now := time.Unix(1614265330, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignatureHeader([]Key{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", now, body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseKeyEncrypted: a secret left encrypted (its key lost) is refused
// with a reason that says so, without repeating the value.
func TestParseKeyEncrypted(t *testing.T) {
	const stored = "enc:v1:0123abcd:c2VjcmV0Y2lwaGVydGV4dA"
	_, err := ParseKey(stored)
	if !errors.Is(err, ErrInvalidSecret) || !strings.Contains(err.Error(), "stored encrypted") || strings.Contains(err.Error(), stored) {
		t.Fatalf("ParseKey(encrypted) = %v", err)
	}
}
