package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-webhooks/herald"
)

// Token secrets: a kind prefix, then 32 random bytes in base64url.
const (
	adminTokenKind  = "hrda_"
	portalTokenKind = "hrdp_"
	// shownPrefixLen is how much of a secret is stored in clear, to tell
	// tokens apart in listings: the kind and 4 of its 43 random characters.
	shownPrefixLen = 9
)

// newSecret returns a fresh bearer token of the given kind.
func newSecret(kind string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return kind + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// storedToken is what the store keeps of a new secret: its hash and its
// shown prefix, never the secret itself.
func storedToken(secret, appID, name string, now time.Time, expires *time.Time) *herald.Token {
	return &herald.Token{ID: herald.NewID(herald.PrefixToken, now), Hash: hashToken(secret), AppID: appID,
		Name: name, Prefix: secret[:shownPrefixLen], ExpiresAt: expires, CreatedAt: now}
}

// expiryIn reads an optional "expiry" in seconds, within [min, max]; def
// (0: never) when it is absent or null.
func expiryIn(p *problems, in opt[int64], min, max, def time.Duration, now time.Time) *time.Time {
	d := def
	if v, ok := in.value(); ok {
		d = time.Duration(v) * time.Second
		if v < int64(min/time.Second) || v > int64(max/time.Second) {
			p.add(fmt.Sprintf("expiry must be between %d and %d seconds", int64(min/time.Second), int64(max/time.Second)), "body", "expiry")
			return nil
		}
	}
	if d == 0 {
		return nil
	}
	t := now.Add(d)
	return &t
}

// adminTokenIn is the body of POST /api/v1/auth/token.
type adminTokenIn struct {
	Name   opt[string] `json:"name"`
	Expiry opt[int64]  `json:"expiry"`
}

// adminTokenOut is an admin token as listed: never its secret.
type adminTokenOut struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Prefix    string  `json:"prefix"`
	CreatedAt string  `json:"createdAt"`
	ExpiresAt *string `json:"expiresAt"`
}

// adminTokenCreatedOut adds the secret, shown once when it is created.
type adminTokenCreatedOut struct {
	adminTokenOut
	Token string `json:"token"`
}

func toAdminTokenOut(t *herald.Token) adminTokenOut {
	out := adminTokenOut{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: formatTime(t.CreatedAt)}
	if t.ExpiresAt != nil {
		s := formatTime(*t.ExpiresAt)
		out.ExpiresAt = &s
	}
	return out
}

// Admin tokens created through the API expire after at most 10 years, and
// never unless asked to.
const maxAdminTokenExpiry = 10 * 365 * 24 * time.Hour

// createAdminToken issues a token with full access and shows it once.
func (s *server) createAdminToken(w http.ResponseWriter, r *http.Request) {
	var in adminTokenIn
	if err := s.decode(w, r, &in, true); err != nil {
		writeError(w, err, s.log)
		return
	}
	p := problems{}
	name, _ := in.Name.value()
	if len(name) > 256 {
		p.add("name must be at most 256 characters", "body", "name")
	}
	now := s.cfg.Now()
	expires := expiryIn(&p, in.Expiry, time.Second, maxAdminTokenExpiry, 0, now)
	if err := p.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	secret, err := newSecret(adminTokenKind)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	tok := storedToken(secret, "", name, now, expires)
	if err := s.store.TokenCreate(r.Context(), tok); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusCreated, adminTokenCreatedOut{adminTokenOut: toAdminTokenOut(tok), Token: secret})
}

// listAdminTokens lists the admin tokens kept in the store (not the one
// from the configuration), without their secrets.
func (s *server) listAdminTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := s.store.TokenListAdmin(r.Context())
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	out := listOut[adminTokenOut]{Data: make([]adminTokenOut, len(toks)), Done: true}
	for i := range toks {
		out.Data[i] = toAdminTokenOut(&toks[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// revokeToken deletes a stored token (an admin or an app-portal one) by
// ID; requests bearing it are refused from then on. The configured admin
// token is not stored, so it cannot be revoked here.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("token_id")
	if _, err := s.store.TokenGet(r.Context(), id); err != nil {
		writeError(w, err, s.log)
		return
	}
	if err := s.store.TokenDelete(r.Context(), id); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}
