package signing_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

func TestStandardVerifierSpecVector(t *testing.T) {
	other := signing.NewSecret()
	v, err := signing.NewStandardVerifier(other, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return time.Unix(1614265330, 0) }
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	h.Set("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("svix-timestamp", "1614265330")
	h.Set("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	id, err := v.Verify(h, body)
	if err != nil || id != "msg_p5jXN8AQM9LWM0D4loKWxJek" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	if _, err := v.Verify(h, []byte(`{"test": 2432232315}`)); !errors.Is(err, signing.ErrNoMatchingSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	v.Now = func() time.Time { return time.Unix(1614265330+301, 0) }
	if _, err := v.Verify(h, body); !errors.Is(err, signing.ErrTimestampTooOld) {
		t.Fatalf("stale: %v", err)
	}
	if _, err := v.Verify(http.Header{}, body); !errors.Is(err, signing.ErrMissingHeader) {
		t.Fatalf("no headers: %v", err)
	}
}

func TestStandardVerifierErrors(t *testing.T) {
	const now = 1614265330
	sk, pk := signing.NewKeyPair()
	v, err := signing.NewStandardVerifier(signing.NewSecret(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", pk)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParseKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	v1a, err := key.Sign("msg_1", time.Unix(now, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	const v1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	headers := func(prefix, id, ts, sig string) http.Header {
		h := http.Header{}
		for name, value := range map[string]string{"id": id, "timestamp": ts, "signature": sig} {
			if value != "" {
				h.Set(prefix+name, value)
			}
		}
		return h
	}
	tests := []struct {
		name       string
		header     http.Header
		now        int64
		want       error
		wantHeader string
	}{
		{"bare base64 secret", headers("webhook-", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", v1), now, nil, ""},
		{"ed25519 key among HMAC secrets", headers("webhook-", "msg_1", "1614265330", v1a), now, nil, ""},
		{"ed25519 tampered id", headers("webhook-", "msg_2", "1614265330", v1a), now, signing.ErrNoMatchingSignature, "webhook-signature"},
		{"no headers", http.Header{}, now, signing.ErrMissingHeader, "webhook-id"},
		{"no timestamp", headers("webhook-", "msg_1", "", v1), now, signing.ErrMissingHeader, "webhook-timestamp"},
		{"svix without signature", headers("svix-", "msg_1", "1614265330", ""), now, signing.ErrMissingHeader, "svix-signature"},
		{"malformed", headers("webhook-", "msg_1", "1614265330", "g0hM9SsE"), now, signing.ErrMalformedHeader, "webhook-signature"},
		{"bad timestamp", headers("svix-", "msg_1", "soon", v1), now, signing.ErrInvalidTimestamp, "svix-timestamp"},
		{"stale", headers("webhook-", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", v1), now + 301, signing.ErrTimestampTooOld, "webhook-timestamp"},
		{"future", headers("webhook-", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", v1), now - 301, signing.ErrTimestampTooNew, "webhook-timestamp"},
	}
	for _, tc := range tests {
		v.Now = func() time.Time { return time.Unix(tc.now, 0) }
		_, err := v.Verify(tc.header, body)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
			continue
		}
		var ve *signing.VerifyError
		if err != nil && (!errors.As(err, &ve) || ve.Header != tc.wantHeader) {
			t.Errorf("%s: error %v should name %s", tc.name, err, tc.wantHeader)
		}
	}
	if _, err := signing.NewStandardVerifier(); !errors.Is(err, signing.ErrInvalidSecret) {
		t.Errorf("no secret: %v", err)
	}
	if !errors.Is(signing.ErrNoMatchingSigning, signing.ErrNoMatchingSignature) {
		t.Errorf("the deprecated name is not the same error")
	}
}

func TestVerifyErrorText(t *testing.T) {
	err := &signing.VerifyError{Header: "webhook-timestamp", Err: signing.ErrTimestampTooOld}
	if got := err.Error(); got != "signing: webhook-timestamp: timestamp too old" {
		t.Errorf("Error() = %q", got)
	}
}
