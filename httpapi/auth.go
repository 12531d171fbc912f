package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/herald-webhooks/herald"
)

// principal is who a request acts as.
type principal struct {
	credential string // hash identifying the credential, for idempotency keys
	admin      bool
	token      *herald.Token // the app-scoped token, when not admin
	appUID     string        // uid of the token's application, if any
}

type principalKey struct{}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// hashToken returns the hex SHA-256 of a bearer token: tokens are stored
// and compared only in this form.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// authenticate resolves the bearer token of r. Missing, wrong and expired
// tokens are all EUnauthorized.
func (s *server) authenticate(r *http.Request) (*principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return nil, herald.Errorf(herald.EUnauthorized, "Missing or malformed Authorization header: expected 'Bearer <token>'.")
	}
	hash := hashToken(tok)
	// Both sides are hashes of equal length: the comparison takes the same
	// time whatever the token, and reveals nothing of the admin token's
	// length.
	if subtle.ConstantTimeCompare([]byte(hash), []byte(s.adminHash)) == 1 {
		return &principal{credential: hash, admin: true}, nil
	}
	// Stored tokens are found by the hash of the secret: how long the
	// lookup takes depends on the hash, which the caller cannot steer
	// towards a stored one, so it tells nothing about any secret.
	t, err := s.store.TokenGetByHash(r.Context(), hash)
	if err == nil && subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		err = herald.Errorf(herald.ENotFound, "Token not found")
	}
	if herald.IsNotFound(err) || (err == nil && t.ExpiresAt != nil && !t.ExpiresAt.After(s.cfg.Now())) {
		return nil, herald.Errorf(herald.EUnauthorized, "Invalid or expired token.")
	}
	if err != nil {
		return nil, err
	}
	p := &principal{credential: hash, token: t}
	if t.AppID == "" {
		p.admin = true
		return p, nil
	}
	if app, err := s.store.ApplicationGet(r.Context(), t.AppID); err == nil {
		p.appUID = app.UID
	}
	return p, nil
}

// mayUse says whether an app-scoped token may make request r to a route
// of this access level: anyToken routes, or appScope routes under its own
// application (by id or uid), and only reads if it is read-only.
func (p *principal) mayUse(level access, r *http.Request) bool {
	if level == anyToken {
		return true
	}
	appKey := r.PathValue("app_id")
	ownApp := appKey != "" && (appKey == p.token.AppID || (p.appUID != "" && appKey == p.appUID))
	reads := r.Method == http.MethodGet || r.Method == http.MethodHead
	return level == appScope && ownApp && (!p.token.ReadOnly || reads)
}

// access says who may use a route.
type access int

const (
	adminOnly access = iota // admin tokens only
	appScope                // admin, or a token scoped to the route's {app_id}
	anyToken                // any valid token (logout; background tasks, scoped in the handler)
	public                  // no token (health)
)

// guard authenticates requests to a route and enforces its access level.
// App-scoped tokens are checked against the {app_id} path value, as id or
// uid, and read-only ones against the method, before anything is looked
// up.
func (s *server) guard(level access, h http.HandlerFunc) http.HandlerFunc {
	if level == public {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		if !p.admin && !p.mayUse(level, r) {
			writeError(w, herald.Errorf(herald.EForbidden, "This token may not access this resource."), s.log)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}
