package signing_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// A receiver of Herald (or Svix) webhooks verifies the raw body against
// the webhook-* (or svix-*) headers and dedupes on the returned id.
func ExampleStandardVerifier() {
	v, err := signing.NewStandardVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	v.Now = func() time.Time { return time.Unix(1614265330, 0) } // for the example only

	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	id, err := v.Verify(h, []byte(`{"test": 2432232314}`))
	fmt.Println(id, err)

	_, err = v.Verify(h, []byte(`{"test": 1}`))
	fmt.Println(errors.Is(err, signing.ErrNoMatchingSignature), err)
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek <nil>
	// true signing: webhook-signature: no matching signature
}

// A sender signs each request with every active secret.
func ExampleSetHeaders() {
	key, err := signing.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	err = signing.SetHeaders(h, []signing.Key{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	fmt.Println(h.Get("webhook-timestamp"), h.Get("webhook-signature"), err)
	// Output:
	// 1614265330 v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= <nil>
}

// Stripe webhooks: the signing secret is the HMAC key as is; the event id
// is the body's "id".
func ExampleStripeVerifier() {
	const secret = "whsec_test_secret"
	body := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid"}`)
	v, err := signing.NewStripeVerifier(secret)
	if err != nil {
		panic(err)
	}
	v.Now = func() time.Time { return time.Unix(1700000000, 0) } // for the example only

	h := http.Header{}
	h.Set("Stripe-Signature", signing.SignStripe(secret, time.Unix(1700000000, 0), body))
	id, err := v.Verify(h, body)
	fmt.Println(id, err)

	v.Now = func() time.Time { return time.Unix(1700000000+301, 0) }
	_, err = v.Verify(h, body)
	fmt.Println(errors.Is(err, signing.ErrTimestampTooOld))
	// Output:
	// evt_1 <nil>
	// true
}

func ExampleSignStripe() {
	fmt.Println(signing.SignStripe("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)))
	// Output:
	// t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964
}

// GitHub webhooks: X-Hub-Signature-256, event id from X-GitHub-Delivery.
func ExampleNewGitHubVerifier() {
	v, err := signing.NewGitHubVerifier("It's a Secret to Everybody")
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	id, err := v.Verify(h, []byte("Hello, World!"))
	fmt.Println(id, err)
	// Output:
	// 72d3162e-cc78-11e3-81ab-4c9367dc0958 <nil>
}

func ExampleSignGitHub() {
	fmt.Println(signing.SignGitHub("It's a Secret to Everybody", []byte("Hello, World!")))
	// Output:
	// sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
}

// Any provider that sends an HMAC of the body in one header.
func ExampleHMACScheme() {
	scheme := signing.HMACScheme{
		Header:    "X-Shop-Hmac-Sha256",
		Algorithm: signing.AlgorithmSHA256,
		Encoding:  signing.EncodingBase64,
		IDHeader:  "X-Shop-Webhook-Id",
	}
	body := []byte("Hello, World!")
	sig, err := scheme.Sign("It's a Secret to Everybody", body)
	fmt.Println(sig, err)

	v, err := signing.NewHMACVerifier(scheme, "It's a Secret to Everybody")
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("X-Shop-Hmac-Sha256", sig)
	h.Set("X-Shop-Webhook-Id", "wh_42")
	fmt.Println(v.Verify(h, body))

	fmt.Println(signing.HMACScheme{Header: "X-Sig", Algorithm: "md5"}.Validate())
	// Output:
	// dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc= <nil>
	// wh_42 <nil>
	// signing: invalid HMAC scheme: Algorithm "md5" is not one of sha256, sha1, sha512
}
