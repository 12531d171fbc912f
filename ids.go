package herald

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// ID prefixes of the objects Herald creates. Every ID is a prefix followed by
// a 27-character, base62, time-sortable suffix in the layout of a KSUID.
const (
	PrefixApplication = "app_"
	PrefixEndpoint    = "ep_"
	PrefixMessage     = "msg_"
	PrefixAttempt     = "atmpt_"
	PrefixTask        = "qtask_"
	PrefixDelivery    = "dlv_"
	PrefixToken       = "tok_"
)

// ksuidEpoch is the KSUID epoch (2014-05-13T16:53:20Z) in Unix seconds.
const ksuidEpoch = 1400000000

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// idSuffixLen is the length of the encoded 20-byte suffix.
const idSuffixLen = 27

// NewID returns prefix followed by a new unique suffix. Suffixes sort by the
// time they were made: four bytes of seconds since the KSUID epoch, four bytes
// of the sub-second nanoseconds, then twelve random bytes, all encoded in
// base62 to 27 characters, so that lexical order is creation order to the
// nanosecond.
func NewID(prefix string, now time.Time) string {
	var raw [20]byte
	binary.BigEndian.PutUint32(raw[0:4], uint32(now.Unix()-ksuidEpoch))
	binary.BigEndian.PutUint32(raw[4:8], uint32(now.Nanosecond()))
	if _, err := rand.Read(raw[8:]); err != nil {
		panic("herald: crypto/rand failed: " + err.Error())
	}
	return prefix + encodeBase62(raw[:])
}

// IDAt returns the smallest ID with the given prefix that NewID could make at
// time t, for turning a time bound into an ID bound in range queries.
func IDAt(prefix string, t time.Time) string {
	var raw [20]byte
	secs := t.Unix() - ksuidEpoch
	if secs < 0 {
		secs = 0
	}
	binary.BigEndian.PutUint32(raw[0:4], uint32(secs))
	binary.BigEndian.PutUint32(raw[4:8], uint32(t.Nanosecond()))
	return prefix + encodeBase62(raw[:])
}

// encodeBase62 renders the 20-byte big-endian number b as 27 base62
// digits, dividing five 32-bit limbs by 62 in turn (no big.Int: IDs are
// made for every message, delivery and attempt).
func encodeBase62(b []byte) string {
	var limbs [5]uint32
	for i := range limbs {
		limbs[i] = binary.BigEndian.Uint32(b[i*4:])
	}
	out := make([]byte, idSuffixLen)
	for i := idSuffixLen - 1; i >= 0; i-- {
		var rem uint64
		for j := range limbs {
			cur := rem<<32 | uint64(limbs[j])
			limbs[j] = uint32(cur / 62)
			rem = cur % 62
		}
		out[i] = base62Alphabet[rem]
	}
	return string(out)
}
