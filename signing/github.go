package signing

// GitHub's webhook headers: the signature (HMAC-SHA256 of the body, keyed
// with the webhook's secret string) and the delivery's unique id.
const (
	HeaderGitHubSignature = "X-Hub-Signature-256"
	HeaderGitHubDelivery  = "X-GitHub-Delivery"
)

// GitHubScheme returns GitHub's scheme: "X-Hub-Signature-256:
// sha256=<hex>", with the event id from X-GitHub-Delivery.
func GitHubScheme() HMACScheme {
	return HMACScheme{
		Header:    HeaderGitHubSignature,
		Algorithm: AlgorithmSHA256,
		Encoding:  EncodingHex,
		Prefix:    "sha256=",
		IDHeader:  HeaderGitHubDelivery,
	}
}

// NewGitHubVerifier returns a verifier of GitHub webhooks for one or more
// secrets. Verify returns the X-GitHub-Delivery header as the event id (""
// if absent). GitHub signs neither that id nor a time, so a captured
// request can be replayed with another id; deduplicating on the id only
// absorbs GitHub's own redeliveries.
func NewGitHubVerifier(secrets ...string) (*HMACVerifier, error) {
	return NewHMACVerifier(GitHubScheme(), secrets...)
}

// SignGitHub returns the X-Hub-Signature-256 value for body signed with
// secret: "sha256=<hex>".
func SignGitHub(secret string, body []byte) string {
	s := GitHubScheme()
	return s.Prefix + hexCodec.encode(s.mac([]byte(secret), body))
}
