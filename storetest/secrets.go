package storetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/secretbox"
)

var secretTests = []test{
	{"SecretsEncryptedAtRest", testSecretsEncryptedAtRest},
	{"SecretsKeyCheck", testSecretsKeyCheck},
	{"SecretsReencryptRotatesKey", testSecretsReencryptRotatesKey},
	{"SecretsReencryptPlaintextRows", testSecretsReencryptPlaintextRows},
	{"SecretsUnreadable", testSecretsUnreadable},
	{"SecretsReencryptManyEndpoints", testSecretsReencryptManyEndpoints},
}

// The secrets the encryption tests store: a current one and a rotated one.
const (
	secretCurrent = "whsec_C2FsdHlDdXJyZW50U2VjcmV0S2V5MTIzNDU2"
	secretOld     = "whsec_T2xkUm90YXRlZFNlY3JldEtleUFCQ0RFRkdI"
)

// testCipher returns a cipher with a key made of b, and old keys of olds.
func testCipher(t *testing.T, b byte, olds ...byte) *secretbox.Box {
	t.Helper()
	var old [][]byte
	for _, o := range olds {
		old = append(old, bytes.Repeat([]byte{o}, secretbox.KeySize))
	}
	c, err := secretbox.New(bytes.Repeat([]byte{b}, secretbox.KeySize), old...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// needCipherHarness skips unless the harness can reopen with a cipher.
func (f *fixture) needCipherHarness() {
	f.t.Helper()
	if f.h.OpenCipher == nil || f.h.RawSecrets == nil {
		f.t.Skip("harness has no OpenCipher/RawSecrets")
	}
	if f.h.Cipher != nil {
		f.t.Skip("the harness's stores already encrypt with their own key")
	}
}

// openCipher reopens the store with c, failing the test on an error.
func (f *fixture) openCipher(c herald.SecretCipher, skipKeyCheck bool) {
	f.t.Helper()
	s, err := f.h.OpenCipher(f.t, f.s, c, skipKeyCheck)
	if err != nil {
		f.t.Fatalf("open with cipher: %v", err)
	}
	f.s = s
}

// reopenFails reopens with c, expecting Open to fail with an error that
// contains want; the store is then opened again with ok (skipping the key
// check when okSkip).
func (f *fixture) reopenFails(c herald.SecretCipher, want string, ok herald.SecretCipher, okSkip bool) {
	f.t.Helper()
	s, err := f.h.OpenCipher(f.t, f.s, c, false)
	if err == nil {
		f.s = s
		f.t.Fatalf("Open succeeded, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		f.t.Fatalf("Open: %v, want an error containing %q", err, want)
	}
	// f.s is closed: open its database again with a suitable cipher.
	f.openCipher(ok, okSkip)
}

// rotatedEndpoint creates an endpoint holding secretCurrent and secretOld.
func (f *fixture) rotatedEndpoint(appID string) *herald.Endpoint {
	expires := at(1_000_000)
	return f.endpoint(appID, func(e *herald.Endpoint) {
		e.Secrets = []herald.EndpointSecret{{Key: secretCurrent}, {Key: secretOld, ExpiresAt: &expires}}
	})
}

// checkSecretsRead checks that every way of reading the endpoint gives
// back its plaintext secrets.
func (f *fixture) checkSecretsRead(ep *herald.Endpoint) {
	f.t.Helper()
	got, err := f.s.EndpointGet(f.ctx, ep.AppID, ep.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	checkSecrets(f.t, "EndpointGet", got.Secrets)
	page, err := f.s.EndpointList(f.ctx, ep.AppID, herald.ListParams{Limit: 10})
	if err != nil || len(page.Items) != 1 {
		f.t.Fatalf("EndpointList: %d, %v", len(page.Items), err)
	}
	checkSecrets(f.t, "EndpointList", page.Items[0].Secrets)
	f.message(ep.AppID)
	jobs := f.claimAll(f.tick().Add(time.Hour))
	if len(jobs) == 0 {
		f.t.Fatal("nothing claimed")
	}
	for _, j := range jobs {
		checkSecrets(f.t, "DeliveryClaim", j.Endpoint.Secrets)
	}
}

func checkSecrets(t *testing.T, where string, got []herald.EndpointSecret) {
	t.Helper()
	if len(got) != 2 || got[0].Key != secretCurrent || got[1].Key != secretOld || got[1].ExpiresAt == nil {
		t.Fatalf("%s: secrets %+v, want the plaintext current and rotated ones", where, got)
	}
}

// checkRaw checks that the stored column holds no plaintext secret and
// that every secret in it is encrypted with the key whose ID is keyID.
func (f *fixture) checkRaw(endpointID, keyID string) {
	f.t.Helper()
	raw := f.h.RawSecrets(f.t, f.s, endpointID)
	for _, plain := range []string{secretCurrent, secretOld, secretCurrent[len("whsec_"):], secretOld[len("whsec_"):]} {
		if strings.Contains(raw, plain) {
			f.t.Fatalf("the stored secrets column holds a plaintext secret: %s", raw)
		}
	}
	if n := strings.Count(raw, "enc:v1:"+keyID+":"); n != 2 {
		f.t.Fatalf("the stored secrets column has %d values under key %s, want 2: %s", n, keyID, raw)
	}
}

func testSecretsEncryptedAtRest(t *testing.T, f *fixture) {
	if f.h.RawSecrets == nil || (f.h.Cipher == nil && f.h.OpenCipher == nil) {
		t.Skip("harness cannot encrypt or show stored rows")
	}
	c, _ := f.h.Cipher.(*secretbox.Box)
	if c == nil {
		c = testCipher(t, 1)
		f.openCipher(c, false)
	}
	a := f.app()
	ep := f.rotatedEndpoint(a.ID)
	f.checkRaw(ep.ID, c.CurrentKeyID())
	f.checkSecretsRead(ep)
	// An update encrypts again; secrets written stay readable after a reopen.
	ep.Secrets[0].Key = secretCurrent
	ep.UpdatedAt = f.tick()
	if err := f.s.EndpointUpdate(f.ctx, ep); err != nil {
		t.Fatal(err)
	}
	f.checkRaw(ep.ID, c.CurrentKeyID())
	if f.h.Cipher == nil {
		f.openCipher(c, false)
	} else {
		f.reopen()
	}
	got, err := f.s.EndpointGet(f.ctx, a.ID, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, "EndpointGet after reopen", got.Secrets)
}

func testSecretsKeyCheck(t *testing.T, f *fixture) {
	f.needCipherHarness()
	a, b := testCipher(t, 1), testCipher(t, 2)
	f.openCipher(a, false)
	ep := f.rotatedEndpoint(f.app().ID)
	// No key, on a database whose secrets are encrypted.
	f.reopenFails(nil, "no encryption key is set", a, false)
	if _, err := f.h.OpenCipher(t, f.s, nil, false); !errors.Is(err, herald.ErrNoEncryptionKey) {
		t.Fatalf("Open without a key: %v, want ErrNoEncryptionKey", err)
	}
	f.openCipher(a, false)
	// A wrong key: the error names the key the database needs.
	f.reopenFails(b, "wrong encryption key", a, false)
	f.reopenFails(b, a.CurrentKeyID(), a, false)
	got, err := f.s.EndpointGet(f.ctx, ep.AppID, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, "EndpointGet with the right key", got.Secrets)
	// The new key with the old one among the old keys opens.
	f.openCipher(testCipher(t, 2, 1), false)
	f.checkSecretsRead(ep)
}

func testSecretsReencryptRotatesKey(t *testing.T, f *fixture) {
	f.needCipherHarness()
	f.openCipher(testCipher(t, 1), false)
	a := f.app()
	var eps []*herald.Endpoint
	for range 3 {
		eps = append(eps, f.rotatedEndpoint(a.ID))
	}
	opEp := f.rotatedEndpoint(f.operationalApp().ID) // its second endpoint

	rotated := testCipher(t, 2, 1)
	f.openCipher(rotated, false)
	done, err := f.s.SecretsReencrypt(f.ctx, false)
	if err != nil || done != (herald.SecretsReencrypted{Endpoints: 5}) {
		t.Fatalf("SecretsReencrypt = %+v, %v; want 5 endpoints rewritten", done, err)
	}
	for _, ep := range append(eps, opEp) {
		f.checkRaw(ep.ID, rotated.CurrentKeyID())
	}
	// Again: nothing left to do.
	if done, err := f.s.SecretsReencrypt(f.ctx, false); err != nil || done.Endpoints != 0 {
		t.Fatalf("second SecretsReencrypt = %+v, %v", done, err)
	}
	// The new key alone now opens the database, and the old one no longer.
	only := testCipher(t, 2)
	f.reopenFails(testCipher(t, 1), "wrong encryption key", only, false)
	got, err := f.s.EndpointGet(f.ctx, opEp.AppID, opEp.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, "operational endpoint after rotation", got.Secrets)
}

func testSecretsReencryptPlaintextRows(t *testing.T, f *fixture) {
	f.needCipherHarness()
	if _, err := f.s.SecretsReencrypt(f.ctx, false); herald.ErrorCode(err) != herald.EInvalid {
		t.Fatalf("SecretsReencrypt without a cipher: %v, want EInvalid", err)
	}
	ep := f.rotatedEndpoint(f.app().ID) // stored in plaintext
	c := testCipher(t, 1)
	f.openCipher(c, false) // plaintext rows read as they are
	f.checkSecretsRead(ep)
	done, err := f.s.SecretsReencrypt(f.ctx, false)
	if err != nil || done.Endpoints != 1 {
		t.Fatalf("SecretsReencrypt = %+v, %v", done, err)
	}
	f.checkRaw(ep.ID, c.CurrentKeyID())
	f.openCipher(c, false)
	f.checkSecretsRead(ep)
}

func testSecretsUnreadable(t *testing.T, f *fixture) {
	f.needCipherHarness()
	f.openCipher(testCipher(t, 1), false)
	ep := f.rotatedEndpoint(f.app().ID)
	// The key is lost: a new key opens only with the check skipped.
	lost := testCipher(t, 2)
	f.openCipher(lost, true)
	done, err := f.s.SecretsReencrypt(f.ctx, false)
	if err != nil || done != (herald.SecretsReencrypted{Unreadable: 1}) {
		t.Fatalf("SecretsReencrypt = %+v, %v; want 1 unreadable", done, err)
	}
	f.reopenFails(lost, "wrong encryption key", lost, true)
	if done, err := f.s.SecretsReencrypt(f.ctx, true); err != nil || done.Unreadable != 1 {
		t.Fatalf("SecretsReencrypt(allowUnreadable) = %+v, %v", done, err)
	}
	f.openCipher(lost, false) // the check now names the new key
	got, err := f.s.EndpointGet(f.ctx, ep.AppID, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Secrets) != 2 || !herald.IsEncryptedSecret(got.Secrets[0].Key) {
		t.Fatalf("an unreadable secret reads as %+v, want it left encrypted (it cannot sign)", got.Secrets)
	}
	// Rotating the endpoint's secret keeps the unreadable one as it is
	// (not encrypted twice) until it expires, and the new one reads.
	expires := f.tick().Add(time.Hour)
	got.Secrets = []herald.EndpointSecret{{Key: secretCurrent}, {Key: got.Secrets[0].Key, ExpiresAt: &expires}}
	got.UpdatedAt = f.tick()
	if err := f.s.EndpointUpdate(f.ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := f.s.EndpointGet(f.ctx, ep.AppID, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Secrets[0].Key != secretCurrent || again.Secrets[1].Key != got.Secrets[1].Key {
		t.Fatalf("after rotation: %+v", again.Secrets)
	}
}

// testSecretsReencryptManyEndpoints: more endpoints than one re-encryption
// transaction takes are all rewritten, each once.
func testSecretsReencryptManyEndpoints(t *testing.T, f *fixture) {
	f.needCipherHarness()
	f.openCipher(testCipher(t, 1), false)
	const n = 230 // more than two batches of 100
	a := f.app()
	for range n {
		f.endpoint(a.ID)
	}
	c := testCipher(t, 2, 1)
	f.openCipher(c, false)
	done, err := f.s.SecretsReencrypt(f.ctx, false)
	if err != nil || done != (herald.SecretsReencrypted{Endpoints: n}) {
		t.Fatalf("SecretsReencrypt = %+v, %v; want %d endpoints", done, err, n)
	}
	page, err := f.s.EndpointList(f.ctx, a.ID, herald.ListParams{Limit: 250})
	if err != nil || len(page.Items) != n {
		t.Fatalf("EndpointList: %d, %v", len(page.Items), err)
	}
	for _, ep := range page.Items {
		if raw := f.h.RawSecrets(t, f.s, ep.ID); !strings.Contains(raw, "enc:v1:"+c.CurrentKeyID()+":") {
			t.Fatalf("endpoint %s not re-encrypted: %s", ep.ID, raw)
		}
	}
}
