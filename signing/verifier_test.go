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
	if _, err := v.Verify(h, []byte(`{"test": 2432232315}`)); !errors.Is(err, signing.ErrNoMatchingSigning) {
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
