// Package signing signs and verifies webhooks: Standard Webhooks (what
// Herald sends), Stripe, GitHub and any provider that puts an HMAC of the
// body in a header. It is public, uses only the standard library and
// imports nothing from Herald, so receivers can use it on its own.
//
// Every verifier implements Verifier: Verify(header, body) checks the raw
// body, byte for byte as received, and returns the event id to deduplicate
// on.
//
//   - Standard Webhooks (NewStandardVerifier; signing: Key.Sign,
//     SignatureHeader, SetHeaders): "webhook-id", "webhook-timestamp" and
//     "webhook-signature" headers, or their "svix-*" aliases; content
//     "{id}.{timestamp}.{body}"; "v1" HMAC-SHA256 with "whsec_" secrets
//     (the prefix is optional) and "v1a" ed25519 with "whsk_" secret keys
//     and "whpk_" public keys; several space-separated signatures in one
//     header. The event id is webhook-id.
//   - Stripe (NewStripeVerifier; SignStripe): "Stripe-Signature:
//     t=<unix>,v1=<hex>", HMAC-SHA256 of "<t>.<body>" keyed with the secret
//     string as is; several v1 entries while a secret rolls; v0 ignored.
//     The event id is the JSON body's top-level "id".
//   - GitHub (NewGitHubVerifier; SignGitHub): "X-Hub-Signature-256:
//     sha256=<hex>", HMAC-SHA256 of the body; the event id is
//     X-GitHub-Delivery.
//   - Any HMAC (HMACScheme, NewHMACVerifier, HMACScheme.Sign): header name,
//     SHA-256, SHA-1 or SHA-512, hex, base64 or base64url, an optional
//     prefix and an optional event id header.
//
// Every verifier takes several secrets, so a receiver accepts the old and
// the new one while the sender rotates. Timestamps (Standard Webhooks,
// Stripe) must be within a tolerance of now, DefaultTolerance (5 minutes)
// unless set, either way. Signatures are compared in constant time
// (hmac.Equal, ed25519.Verify), and the work per request is bounded: a
// signature header longer than MaxHeaderLength is rejected and at most
// MaxSignatures signatures of a header are checked.
//
// A failure is a *VerifyError naming the header at fault and wrapping one
// of ErrMissingHeader, ErrMalformedHeader (too long, or no entry in the
// scheme's syntax at all), ErrInvalidTimestamp, ErrTimestampTooOld,
// ErrTimestampTooNew or ErrNoMatchingSignature (well-formed entries, none
// matching, including entries of versions not verified here). Use
// errors.Is; log the error, but answer the sender without the detail.
package signing
