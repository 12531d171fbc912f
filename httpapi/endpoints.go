package httpapi

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/signing"
)

// endpointIn is the body of endpoint create, update and patch.
type endpointIn struct {
	URL          opt[string]            `json:"url"`
	Description  opt[string]            `json:"description"`
	EventTypes   opt[[]string]          `json:"eventTypes"`
	Channels     opt[[]string]          `json:"channels"`
	Disabled     opt[bool]              `json:"disabled"`
	Metadata     opt[map[string]string] `json:"metadata"`
	Secret       opt[string]            `json:"secret"`
	ThrottleRate opt[int]               `json:"throttleRate"`
	UID          opt[string]            `json:"uid"`
}

// secretPattern is the Svix format of an HMAC secret.
var secretPattern = regexp.MustCompile(`^(whsec_)?[a-zA-Z0-9+/=]{32,100}$`)

// validSecret accepts Svix's HMAC secret format, and ed25519 "whsk_" keys.
func validSecret(s string) bool {
	if strings.HasPrefix(s, signing.PrefixSecretKey) {
		_, err := signing.ParseKey(s)
		return err == nil
	}
	if !secretPattern.MatchString(s) {
		return false
	}
	_, err := signing.ParseKey(s)
	return err == nil
}

func (in *endpointIn) validate(p *problems, patch bool) {
	if u, ok := in.URL.value(); ok {
		if err := egress.CheckURL(u); err != nil {
			p.add("url "+err.Error(), "body", "url")
		}
	} else if !patch || in.URL.Null {
		p.add("url is required", "body", "url")
	}
	if v, ok := in.EventTypes.value(); ok {
		validateNames(p, v, herald.MaxEventTypesPerEndpoint, herald.ValidEventTypeName, "eventTypes")
	}
	if v, ok := in.Channels.value(); ok {
		validateNames(p, v, 10, herald.ValidChannel, "channels")
	}
	if v, ok := in.Secret.value(); ok && !validSecret(v) {
		p.add("secret must be whsec_ followed by 32 to 100 base64 characters, or a whsk_ ed25519 key", "body", "secret")
	}
	if uid, ok := in.UID.value(); ok && !herald.ValidUID(uid) {
		p.add("uid must be 1 to 256 of a-z A-Z 0-9 - _ .", "body", "uid")
	}
	validateThrottle(p, in.ThrottleRate, []string{"body", "throttleRate"})
	validateText(p, in.Description, "body", "description")
	validateMetadata(p, in.Metadata, "body", "metadata")
}

// validateNames checks a list of names: at least one, unique, each valid,
// at most maxItems (0: no bound).
func validateNames(p *problems, names []string, maxItems int, valid func(string) bool, field string) {
	if len(names) == 0 {
		p.add(field+" must have at least one item (or be null)", "body", field)
	}
	if maxItems > 0 && len(names) > maxItems {
		p.add(field+" has too many items", "body", field)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !valid(n) {
			p.add("invalid name "+quote(n), "body", field)
		}
		if seen[n] {
			p.add(field+" must be unique", "body", field)
		}
		seen[n] = true
	}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "'" + s + "'"
}

// apply sets the present fields on ep (all of them unless patch); the
// secret is handled by the create handler.
func (in *endpointIn) apply(ep *herald.Endpoint, patch bool) {
	if v, ok := in.URL.value(); ok {
		ep.URL = v
	}
	if in.Description.Set || !patch {
		ep.Description, _ = in.Description.value()
	}
	if in.EventTypes.Set || !patch {
		ep.EventTypes, _ = in.EventTypes.value()
	}
	if in.Channels.Set || !patch {
		ep.Channels, _ = in.Channels.value()
	}
	if in.Disabled.Set || !patch {
		ep.Disabled, _ = in.Disabled.value()
	}
	if in.Metadata.Set || !patch {
		ep.Metadata, _ = in.Metadata.value()
	}
	if in.UID.Set || !patch {
		ep.UID, _ = in.UID.value()
	}
	if in.ThrottleRate.Set || !patch {
		if v, ok := in.ThrottleRate.value(); ok {
			ep.ThrottleRate = &v
		} else {
			ep.ThrottleRate = nil
		}
	}
}

func (s *server) listEndpoints(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(true)
	app, err := s.app(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.EndpointList(r.Context(), app.ID, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, toEndpoint))
}

func (s *server) createEndpoint(w http.ResponseWriter, r *http.Request) {
	var in endpointIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, false) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.app(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	ep, err := s.newEndpoint(r, app.ID, &in)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusCreated, toEndpoint(ep))
}

func (s *server) newEndpoint(r *http.Request, appID string, in *endpointIn) (*herald.Endpoint, error) {
	now := s.cfg.Now()
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: appID, CreatedAt: now, UpdatedAt: now}
	in.apply(ep, false)
	secret, ok := in.Secret.value()
	if !ok {
		secret = signing.NewSecret()
	}
	ep.Secrets = []herald.EndpointSecret{{Key: normaliseSecret(secret)}}
	if err := s.store.EndpointCreate(r.Context(), ep, s.cfg.MaxEndpointsPerApp); err != nil {
		return nil, err
	}
	return ep, nil
}

// normaliseSecret gives a bare base64 HMAC secret its whsec_ prefix.
func normaliseSecret(s string) string {
	if strings.HasPrefix(s, signing.PrefixSymmetric) || strings.HasPrefix(s, signing.PrefixSecretKey) {
		return s
	}
	return signing.PrefixSymmetric + s
}

func (s *server) getEndpoint(w http.ResponseWriter, r *http.Request) {
	_, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toEndpoint(ep))
}

// putEndpoint updates the endpoint, or creates it (201) when the path's id
// or uid names none; a new one takes the path value as uid.
func (s *server) putEndpoint(w http.ResponseWriter, r *http.Request) {
	var in endpointIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, false) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, ep, err := s.endpoint(r)
	if herald.IsNotFound(err) && app != nil {
		if !in.UID.Set || in.UID.Null {
			in.UID = opt[string]{Set: true, V: r.PathValue("endpoint_id")}
		}
		created, err := s.newEndpoint(r, app.ID, &in)
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		writeJSON(w, http.StatusCreated, toEndpoint(created))
		return
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	s.saveEndpoint(w, r, ep, &in, false)
}

func (s *server) patchEndpoint(w http.ResponseWriter, r *http.Request) {
	var in endpointIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, true) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	_, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	s.saveEndpoint(w, r, ep, &in, true)
}

func (s *server) saveEndpoint(w http.ResponseWriter, r *http.Request, ep *herald.Endpoint, in *endpointIn, patch bool) {
	in.apply(ep, patch)
	ep.UpdatedAt = s.cfg.Now()
	if !ep.Disabled {
		ep.DisabledAt, ep.DisabledReason = nil, ""
	}
	if err := s.store.EndpointUpdate(r.Context(), ep); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toEndpoint(ep))
}

func (s *server) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	app, ep, err := s.endpoint(r)
	if err == nil {
		err = s.store.EndpointDelete(r.Context(), app.ID, ep.ID)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}

// endpoint resolves {app_id} then {endpoint_id} (id or uid) within it. The
// application is returned even when the endpoint is not found.
func (s *server) endpoint(r *http.Request) (*herald.Application, *herald.Endpoint, error) {
	app, err := s.app(r)
	if err != nil {
		return nil, nil, err
	}
	ep, err := s.store.EndpointGet(r.Context(), app.ID, r.PathValue("endpoint_id"))
	return app, ep, err
}
