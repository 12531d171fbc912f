// Package secretbox encrypts endpoint secrets at rest with AES-256-GCM (a
// herald.SecretCipher). A stored value reads "enc:v1:<key id>:<base64 of
// nonce and ciphertext>"; the key ID is derived from the key, so a value
// names the key that decrypts it, and old keys kept for decryption let the
// current key be rotated.
package secretbox
