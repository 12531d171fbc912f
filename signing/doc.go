// Package signing signs and verifies webhooks per Standard Webhooks:
// HMAC-SHA256 ("v1") with "whsec_" secrets and ed25519 ("v1a") with "whsk_"
// secret keys and "whpk_" public keys, over "{id}.{timestamp}.{body}".
//
// It is public and imports nothing from Herald, so receivers can use it.
package signing
