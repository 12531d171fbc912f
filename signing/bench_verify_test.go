package signing_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// BenchmarkVerify measures verifying one 1 KiB webhook with each scheme.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"id":"evt_1","pad":"` + strings.Repeat("abcdefgh", 124) + `"}`) // 1 KiB of JSON
	now := time.Now()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

	standard, _ := signing.NewStandardVerifier(secret)
	stdHeader := http.Header{}
	key, _ := signing.ParseKey(secret)
	if err := signing.SetHeaders(stdHeader, []signing.Key{key}, "msg_1", now, body); err != nil {
		b.Fatal(err)
	}
	sk, pk := signing.NewKeyPair()
	edKey, _ := signing.ParseKey(sk)
	ed, _ := signing.NewStandardVerifier(pk)
	edHeader := http.Header{}
	if err := signing.SetHeaders(edHeader, []signing.Key{edKey}, "msg_1", now, body); err != nil {
		b.Fatal(err)
	}
	stripe, _ := signing.NewStripeVerifier(secret)
	stripeHeader := http.Header{signing.HeaderStripeSignature: {signing.SignStripe(secret, now, body)}}
	github, _ := signing.NewGitHubVerifier(secret)
	githubHeader := http.Header{signing.HeaderGitHubSignature: {signing.SignGitHub(secret, body)}}

	for _, c := range []struct {
		name string
		v    signing.Verifier
		h    http.Header
	}{{"standard-v1", standard, stdHeader}, {"standard-v1a", ed, edHeader}, {"stripe", stripe, stripeHeader}, {"github", github, githubHeader}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.v.Verify(c.h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
