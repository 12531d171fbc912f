package httpapi

import (
	"net/http"
	"time"

	"github.com/herald-webhooks/herald"
)

type portalIn struct {
	Application  opt[applicationIn] `json:"application"`
	Expiry       opt[int64]         `json:"expiry"`
	ReadOnly     opt[bool]          `json:"readOnly"`
	FeatureFlags opt[[]string]      `json:"featureFlags"`
}

// Bounds of an app-portal token's expiry, in Svix's API: from an hour to
// a week.
const (
	minPortalExpiry = time.Hour
	maxPortalExpiry = 7 * 24 * time.Hour
)

// appPortalAccess issues a token that can see and manage only one
// application, for expiry seconds (default Config.PortalTokenTTL); with
// readOnly, it may only read (GET). Only a hash of the token is stored.
func (s *server) appPortalAccess(w http.ResponseWriter, r *http.Request) {
	var in portalIn
	if err := s.decode(w, r, &in, true); err != nil {
		writeError(w, err, s.log)
		return
	}
	p := problems{}
	if appIn, ok := in.Application.value(); ok {
		appIn.validate(&p, false, "application")
	}
	now := s.cfg.Now()
	expires := expiryIn(&p, in.Expiry, minPortalExpiry, maxPortalExpiry, s.cfg.PortalTokenTTL, now)
	if err := p.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.app(r)
	if appIn, ok := in.Application.value(); ok && herald.IsNotFound(err) {
		if !appIn.UID.Set || appIn.UID.Null {
			appIn.UID = opt[string]{Set: true, V: r.PathValue("app_id")}
		}
		app, err = s.newApplication(r, &appIn)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	secret, err := newSecret(portalTokenKind)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	tok := storedToken(secret, app.ID, "", now, expires)
	tok.ReadOnly, _ = in.ReadOnly.value()
	if err := s.store.TokenCreate(r.Context(), tok); err != nil {
		writeError(w, err, s.log)
		return
	}
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + r.Host
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": secret, "url": base + "/app-portal#token=" + secret})
}

// logout revokes the calling app-portal token; for the admin token it does
// nothing.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if p := principalFrom(r.Context()); p != nil && p.token != nil {
		if err := s.store.TokenDelete(r.Context(), p.token.ID); err != nil {
			writeError(w, err, s.log)
			return
		}
	}
	writeNoContent(w)
}

// health answers 204 when the store serves requests, 503 otherwise.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.Warn("health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, httpErrorOut{Code: "service_unavailable", Detail: "The store is unavailable."})
		return
	}
	writeNoContent(w)
}

func (s *server) ping(w http.ResponseWriter, r *http.Request) { writeNoContent(w) }
