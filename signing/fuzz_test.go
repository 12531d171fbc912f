package signing_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/signing"
)

// The fuzz targets below feed hostile headers and bodies to every scheme.
// Plain `go test` runs their seeds (f.Add and testdata/fuzz); to explore,
// run e.g. `go test -run '^$' -fuzz FuzzStandard -fuzztime 2m ./signing`.
// Each asserts properties, not just the absence of panics:
//   - a hostile header fails with a *VerifyError wrapping a sentinel, unless
//     it carries the genuine signature;
//   - Sign then Verify succeeds and returns the event id;
//   - any change to the body then fails with ErrNoMatchingSignature.

var sentinels = []error{
	signing.ErrMissingHeader, signing.ErrMalformedHeader, signing.ErrInvalidTimestamp,
	signing.ErrTimestampTooOld, signing.ErrTimestampTooNew, signing.ErrNoMatchingSignature,
}

// checkFailure fails t unless err is a *VerifyError wrapping a sentinel.
func checkFailure(t *testing.T, err error) {
	t.Helper()
	var ve *signing.VerifyError
	if !errors.As(err, &ve) || ve.Header == "" {
		t.Fatalf("error %v (%T) is not a *VerifyError naming a header", err, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

// mutate returns body changed in one byte (or extended by one).
func mutate(body []byte, at uint) []byte {
	out := append([]byte(nil), body...)
	if len(out) == 0 {
		return []byte{0}
	}
	out[at%uint(len(out))] ^= 0x01
	return out
}

// saneUnix maps any int64 to Unix seconds time.Unix round-trips.
func saneUnix(ts int64) int64 { return ts % (1 << 40) }

func FuzzStandard(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`), uint(3))
	f.Add("msg_1", int64(0), "v1a,AAAA v1,Zm9v v2,YmFy", []byte("{}"), uint(0))
	f.Add("m", int64(-5), "", []byte(nil), uint(7))
	f.Add("msg_1", int64(1<<40-1), "v1, ,v1 v1,,, v1,=== \t v1a,"+strings.Repeat("A", 86)+"==", []byte("x"), uint(1))
	f.Add("msg.1", int64(99), strings.Repeat("v1,Zm9v ", 40), []byte("a.b"), uint(2))
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sk, pk := "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==", "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	hm, _ := signing.ParseKey(secret)
	ed, _ := signing.ParseKey(sk)
	f.Fuzz(func(t *testing.T, id string, ts int64, hostile string, body []byte, at uint) {
		ts = saneUnix(ts)
		if id == "" {
			id = "msg"
		}
		v, err := signing.NewStandardVerifier(secret, pk)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = func() time.Time { return time.Unix(ts, 0) }
		genuine, err := signing.SignatureHeader([]signing.Key{hm, ed}, id, time.Unix(ts, 0), body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if err := signing.SetHeaders(h, []signing.Key{hm, ed}, id, time.Unix(ts, 0), body); err != nil {
			t.Fatal(err)
		}
		// Round trip, also with hostile entries after the genuine ones.
		for _, sig := range []string{genuine, genuine + " " + hostile} {
			h.Set(signing.HeaderSignature, sig)
			got, err := v.Verify(h, body)
			if len(sig) <= signing.MaxHeaderLength && (err != nil || got != id) {
				t.Fatalf("Verify(signed %q) = %q, %v", sig, got, err)
			}
		}
		h.Set(signing.HeaderSignature, genuine)
		if _, err := v.Verify(h, mutate(body, at)); !errors.Is(err, signing.ErrNoMatchingSignature) {
			t.Fatalf("Verify of a changed body = %v, want ErrNoMatchingSignature", err)
		}
		// A hostile header alone fails, unless it holds a genuine entry.
		h.Set(signing.HeaderSignature, hostile)
		if _, err := v.Verify(h, body); err == nil {
			if !containsAny(hostile, strings.Fields(genuine)) {
				t.Fatalf("Verify accepted hostile header %q", hostile)
			}
		} else {
			checkFailure(t, err)
		}
		// The hostile string as a timestamp or id cannot break it either.
		h.Set(signing.HeaderSignature, genuine)
		h.Set(signing.HeaderTimestamp, hostile)
		// Only a spelling of the signed time itself may pass ("00" or "+5"
		// are the integers 0 and 5, as the reference libraries read them).
		if _, err := v.Verify(h, body); err != nil {
			checkFailure(t, err)
		} else if n, err := strconv.ParseInt(strings.TrimSpace(hostile), 10, 64); err != nil || n != ts {
			t.Fatalf("Verify accepted timestamp %q for %d", hostile, ts)
		}
	})
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// carriesStripeSignature reports whether a Stripe-Signature header holds,
// in any letter case, the genuine v1 signature of body for one of its own
// t= values: a header Verify may accept.
func carriesStripeSignature(header, secret string, body []byte) bool {
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		ts, err := strconv.ParseInt(v, 10, 64)
		if k != "t" || err != nil {
			continue
		}
		genuine := signing.SignStripe(secret, time.Unix(ts, 0), body)
		if strings.Contains(strings.ToLower(header), genuine[strings.Index(genuine, ",v1=")+4:]) {
			return true
		}
	}
	return false
}

func FuzzStripe(f *testing.F) {
	f.Add(int64(1614265330), "t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964", []byte(`{"test": 2432232314}`), "evt_1", uint(0))
	f.Add(int64(1492774577), "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39", []byte(`{"id":"evt_x","data":{"id":[1,{"a":null}]}}`), "", uint(5))
	f.Add(int64(123), "t=123,t=124,v1=,v1=zz,=,,t", []byte(`[`), "\xff\"\\", uint(9))
	f.Add(int64(0), "t=-1,v1=00", []byte(`{"id":`), "evt", uint(1))
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Fuzz(func(t *testing.T, ts int64, hostile string, body []byte, eventID string, at uint) {
		ts = saneUnix(ts)
		if ts < 0 {
			ts = -ts
		}
		v, err := signing.NewStripeVerifier(secret)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = func() time.Time { return time.Unix(ts, 0) }
		genuine := signing.SignStripe(secret, time.Unix(ts, 0), body)
		h := http.Header{}
		h.Set(signing.HeaderStripeSignature, genuine)
		if _, err := v.Verify(h, body); err != nil {
			t.Fatalf("Verify(SignStripe) = %v", err)
		}
		if _, err := v.Verify(h, mutate(body, at)); !errors.Is(err, signing.ErrNoMatchingSignature) {
			t.Fatalf("Verify of a changed body = %v, want ErrNoMatchingSignature", err)
		}
		// The event id of a JSON event, after a nested "id" to skip.
		event, _ := json.Marshal(map[string]any{"data": map[string]any{"id": "nested", "list": []any{1, "id"}}, "id": eventID})
		var want struct{ ID string }
		if err := json.Unmarshal(event, &want); err != nil {
			t.Fatal(err)
		}
		h.Set(signing.HeaderStripeSignature, signing.SignStripe(secret, time.Unix(ts, 0), event))
		if got, err := v.Verify(h, event); err != nil || got != want.ID {
			t.Fatalf("Verify(%s) = %q, %v; want %q", event, got, err, want.ID)
		}
		h.Set(signing.HeaderStripeSignature, hostile)
		if _, err := v.Verify(h, body); err == nil {
			if !carriesStripeSignature(hostile, secret, body) {
				t.Fatalf("Verify accepted hostile header %q", hostile)
			}
		} else {
			checkFailure(t, err)
		}
	})
}

func FuzzGitHub(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", []byte("Hello, World!"), "72d3162e-cc78-11e3-81ab-4c9367dc0958", uint(0))
	f.Add("sha256=", []byte(""), "", uint(0))
	f.Add("sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", []byte("x"), "d", uint(3))
	f.Add("sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E1", []byte("Hello, World!"), "d", uint(3))
	const secret = "It's a Secret to Everybody"
	v, err := signing.NewGitHubVerifier(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, hostile string, body []byte, delivery string, at uint) {
		genuine := signing.SignGitHub(secret, body)
		h := http.Header{}
		h.Set(signing.HeaderGitHubSignature, genuine)
		h.Set(signing.HeaderGitHubDelivery, delivery)
		if id, err := v.Verify(h, body); err != nil || id != delivery {
			t.Fatalf("Verify(SignGitHub) = %q, %v; want %q", id, err, delivery)
		}
		if _, err := v.Verify(h, mutate(body, at)); !errors.Is(err, signing.ErrNoMatchingSignature) {
			t.Fatalf("Verify of a changed body = %v, want ErrNoMatchingSignature", err)
		}
		h.Set(signing.HeaderGitHubSignature, hostile)
		if _, err := v.Verify(h, body); err == nil {
			if !strings.EqualFold(hostile, genuine) {
				t.Fatalf("Verify accepted hostile header %q, genuine %q", hostile, genuine)
			}
		} else {
			checkFailure(t, err)
		}
	})
}

func FuzzHMAC(f *testing.F) {
	f.Add(uint8(0), uint8(0), "sha256=", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", []byte("Hello, World!"), uint(0))
	f.Add(uint8(1), uint8(1), "", "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc", []byte("Hello, World!"), uint(2))
	f.Add(uint8(2), uint8(2), "v1=", "v1=____", []byte{}, uint(0))
	f.Add(uint8(3), uint8(3), "bad prefix", "", []byte("x"), uint(0))
	algorithms := []signing.Algorithm{signing.AlgorithmSHA256, signing.AlgorithmSHA1, signing.AlgorithmSHA512, "md5"}
	encodings := []signing.Encoding{signing.EncodingHex, signing.EncodingBase64, signing.EncodingBase64URL, "base32"}
	const secret = "It's a Secret to Everybody"
	f.Fuzz(func(t *testing.T, alg, enc uint8, prefix, hostile string, body []byte, at uint) {
		s := signing.HMACScheme{Header: "X-Signature", IDHeader: "X-Id", Prefix: prefix,
			Algorithm: algorithms[int(alg)%len(algorithms)], Encoding: encodings[int(enc)%len(encodings)]}
		v, err := signing.NewHMACVerifier(s, secret)
		if err != nil {
			if !errors.Is(err, signing.ErrInvalidScheme) || s.Validate() == nil {
				t.Fatalf("NewHMACVerifier(%+v) = %v", s, err)
			}
			return
		}
		genuine, err := s.Sign(secret, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"X-Signature": {genuine}, "X-Id": {"evt"}}
		if id, err := v.Verify(h, body); err != nil || id != "evt" {
			t.Fatalf("Verify(Sign) = %q, %v", id, err)
		}
		if _, err := v.Verify(h, mutate(body, at)); !errors.Is(err, signing.ErrNoMatchingSignature) {
			t.Fatalf("Verify of a changed body = %v, want ErrNoMatchingSignature", err)
		}
		h.Set("X-Signature", hostile)
		if _, err := v.Verify(h, body); err == nil {
			same := strings.TrimRight(hostile, "=") == strings.TrimRight(genuine, "=") ||
				s.Encoding == signing.EncodingHex && strings.EqualFold(hostile, genuine)
			if !same {
				t.Fatalf("Verify accepted hostile header %q, genuine %q", hostile, genuine)
			}
		} else {
			checkFailure(t, err)
		}
	})
}
