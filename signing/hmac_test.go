package signing_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald/signing"
)

// GitHub's documented vector ("Validating webhook deliveries", GitHub Docs).
const (
	ghSecret = "It's a Secret to Everybody"
	ghBody   = "Hello, World!"
	ghSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestSignGitHubVector(t *testing.T) {
	if got := signing.SignGitHub(ghSecret, []byte(ghBody)); got != ghSig {
		t.Fatalf("SignGitHub = %q, want %q", got, ghSig)
	}
	if got, err := signing.GitHubScheme().Sign(ghSecret, []byte(ghBody)); err != nil || got != ghSig {
		t.Fatalf("GitHubScheme().Sign = %q, %v", got, err)
	}
}

func TestGitHubVerifier(t *testing.T) {
	v, err := signing.NewGitHubVerifier("new secret", ghSecret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sig, delivery, body string
		wantID                    string
		want                      error
	}{
		{"vector", ghSig, "72d3162e-cc78-11e3-81ab-4c9367dc0958", ghBody, "72d3162e-cc78-11e3-81ab-4c9367dc0958", nil},
		{"no delivery id", ghSig, "", ghBody, "", nil},
		{"upper-case hex", "sha256=" + strings.ToUpper(ghSig[7:]), "", ghBody, "", nil},
		{"tampered body", ghSig, "d1", "Hello, World?", "", signing.ErrNoMatchingSignature},
		{"truncated digest", ghSig[:len(ghSig)-2], "d1", ghBody, "", signing.ErrNoMatchingSignature},
		{"empty", "", "d1", ghBody, "", signing.ErrMissingHeader},
		{"no prefix", ghSig[7:], "d1", ghBody, "", signing.ErrMalformedHeader},
		{"sha1 prefix", "sha1=" + ghSig[7:], "d1", ghBody, "", signing.ErrMalformedHeader},
		{"prefix only", "sha256=", "d1", ghBody, "", signing.ErrMalformedHeader},
		{"not hex", "sha256=xyz", "d1", ghBody, "", signing.ErrMalformedHeader},
		{"too long", ghSig + strings.Repeat("0", signing.MaxHeaderLength), "d1", ghBody, "", signing.ErrMalformedHeader},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.sig != "" {
			h.Set("X-Hub-Signature-256", tc.sig)
		}
		if tc.delivery != "" {
			h.Set("X-GitHub-Delivery", tc.delivery)
		}
		id, err := v.Verify(h, []byte(tc.body))
		if !errors.Is(err, tc.want) || id != tc.wantID {
			t.Errorf("%s: Verify = %q, %v; want %q, %v", tc.name, id, err, tc.wantID, tc.want)
		}
		var ve *signing.VerifyError
		if err != nil && (!errors.As(err, &ve) || ve.Header != "X-Hub-Signature-256") {
			t.Errorf("%s: error %v does not name X-Hub-Signature-256", tc.name, err)
		}
	}
	other, _ := signing.NewGitHubVerifier("wrong")
	h := http.Header{"X-Hub-Signature-256": {ghSig}}
	if _, err := other.Verify(h, []byte(ghBody)); !errors.Is(err, signing.ErrNoMatchingSignature) {
		t.Errorf("wrong secret: %v", err)
	}
}

// TestHMACSchemes signs and verifies with every algorithm and encoding,
// and checks the digests against values computed independently with
// printf 'Hello, World!' | openssl dgst -<alg> -hmac "It's a Secret to Everybody" [-binary | base64].
func TestHMACSchemes(t *testing.T) {
	tests := []struct {
		alg  signing.Algorithm
		enc  signing.Encoding
		want string
	}{
		{"", "", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
		{signing.AlgorithmSHA1, signing.EncodingHex, "01dc10d0c83e72ed246219cdd91669667fe2ca59"},
		{signing.AlgorithmSHA256, signing.EncodingBase64, "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc="},
		{signing.AlgorithmSHA256, signing.EncodingBase64URL, "dXEH6g6yUJ_CESIczphLijdXC211hsIsRvQ3nIsEPhc="},
		{signing.AlgorithmSHA512, signing.EncodingHex, "11ed355a617e98134e842012a7944ccf59c10256cb182357bd7e3a42013ff07c376f8c14cf5cc1923da20b51d64256b2fb8ebbf100aa67a61326f61fea8111bc"},
	}
	for _, tc := range tests {
		s := signing.HMACScheme{Header: "X-Signature", Algorithm: tc.alg, Encoding: tc.enc, Prefix: "v=", IDHeader: "X-Event-Id"}
		got, err := s.Sign(ghSecret, []byte(ghBody))
		if err != nil {
			t.Fatal(err)
		}
		if tc.want != "" && got != "v="+tc.want {
			t.Errorf("%s/%s: Sign = %q, want %q", tc.alg, tc.enc, got, "v="+tc.want)
		}
		v, err := signing.NewHMACVerifier(s, "other", ghSecret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"X-Signature": {got}, "X-Event-Id": {"evt_9"}}
		if id, err := v.Verify(h, []byte(ghBody)); err != nil || id != "evt_9" {
			t.Errorf("%s/%s: Verify = %q, %v", tc.alg, tc.enc, id, err)
		}
		if _, err := v.Verify(h, []byte(ghBody+"\n")); !errors.Is(err, signing.ErrNoMatchingSignature) {
			t.Errorf("%s/%s: tampered body: %v", tc.alg, tc.enc, err)
		}
		if tc.enc == signing.EncodingBase64 || tc.enc == signing.EncodingBase64URL {
			h.Set("X-Signature", strings.TrimRight(got, "="))
			if _, err := v.Verify(h, []byte(ghBody)); err != nil {
				t.Errorf("%s/%s: unpadded: %v", tc.alg, tc.enc, err)
			}
		}
	}
}

func TestHMACSchemeValidate(t *testing.T) {
	err := signing.HMACScheme{Header: "Bad Header", Algorithm: "md5", Encoding: "base32", Prefix: "a b", IDHeader: "x:y"}.Validate()
	if !errors.Is(err, signing.ErrInvalidScheme) {
		t.Fatalf("Validate = %v, want ErrInvalidScheme", err)
	}
	for _, field := range []string{"Header", "Algorithm", "Encoding", "Prefix", "IDHeader"} {
		if !strings.Contains(err.Error(), field+" ") {
			t.Errorf("Validate's error does not mention %s: %v", field, err)
		}
	}
	if _, err := signing.NewHMACVerifier(signing.HMACScheme{}, "s"); !errors.Is(err, signing.ErrInvalidScheme) {
		t.Errorf("NewHMACVerifier without a header: %v", err)
	}
	if _, err := signing.NewHMACVerifier(signing.HMACScheme{Header: "X-Sig"}); !errors.Is(err, signing.ErrInvalidSecret) {
		t.Errorf("NewHMACVerifier without a secret: %v", err)
	}
	if _, err := (signing.HMACScheme{Header: "X-Sig"}).Sign("", nil); !errors.Is(err, signing.ErrInvalidSecret) {
		t.Errorf("Sign with an empty secret: %v", err)
	}
	if err := signing.GitHubScheme().Validate(); err != nil {
		t.Errorf("GitHubScheme().Validate() = %v", err)
	}
}
