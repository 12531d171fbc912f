package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/herald-webhooks/herald"
)

// The operational-webhook API (Svix's /api/v1/operational-webhook/...)
// manages the operator's endpoints for events about Herald itself. They
// are the endpoints of a reserved application (herald.OperationalAppUID),
// so that operational events go through the delivery engine like any
// message: signed, retried and recorded. That application is hidden from
// the application API, and only admin tokens reach this one.

type operationalKey struct{}

// operational reports whether ctx is a request of the operational-webhook
// API, which may resolve the operational application.
func operational(ctx context.Context) bool {
	v, _ := ctx.Value(operationalKey{}).(bool)
	return v
}

// opEndpointIn is Svix's OperationalWebhookEndpointIn (and Update).
type opEndpointIn struct {
	URL          opt[string]            `json:"url"`
	Description  opt[string]            `json:"description"`
	FilterTypes  opt[[]string]          `json:"filterTypes"`
	Disabled     opt[bool]              `json:"disabled"`
	Metadata     opt[map[string]string] `json:"metadata"`
	RateLimit    opt[int]               `json:"rateLimit"`
	ThrottleRate opt[int]               `json:"throttleRate"`
	Secret       opt[string]            `json:"secret"`
	UID          opt[string]            `json:"uid"`
}

// endpointIn returns the body as an application endpoint's:
// filterTypes are its event types, rateLimit its throttle rate.
func (in *opEndpointIn) endpointIn() *endpointIn {
	out := &endpointIn{URL: in.URL, Description: in.Description, EventTypes: in.FilterTypes,
		Disabled: in.Disabled, Metadata: in.Metadata, Secret: in.Secret, UID: in.UID, ThrottleRate: in.ThrottleRate}
	if !in.ThrottleRate.Set {
		out.ThrottleRate = in.RateLimit
	}
	return out
}

func (in *opEndpointIn) validate(p *problems) {
	ep := in.endpointIn()
	ep.EventTypes = opt[[]string]{}
	ep.validate(p, false)
	if v, ok := in.FilterTypes.value(); ok {
		validateNames(p, v, 0, func(t string) bool { return slices.Contains(herald.OperationalEventTypes, t) }, "filterTypes")
	}
}

// opEndpointOut is Svix's OperationalWebhookEndpointOut, with Herald's
// disabledAt and disabledReason.
type opEndpointOut struct {
	ID             string            `json:"id"`
	UID            *string           `json:"uid,omitempty"`
	URL            string            `json:"url"`
	Description    string            `json:"description"`
	FilterTypes    []string          `json:"filterTypes,omitempty"`
	Disabled       bool              `json:"disabled"`
	RateLimit      *int              `json:"rateLimit,omitempty"`
	ThrottleRate   *int              `json:"throttleRate,omitempty"`
	Metadata       map[string]string `json:"metadata"`
	CreatedAt      string            `json:"createdAt"`
	UpdatedAt      string            `json:"updatedAt"`
	DisabledAt     *string           `json:"disabledAt,omitempty"`
	DisabledReason *string           `json:"disabledReason,omitempty"`
}

func toOpEndpoint(e *herald.Endpoint) opEndpointOut {
	return opEndpointOut{ID: e.ID, UID: strPtr(e.UID), URL: e.URL, Description: e.Description,
		FilterTypes: e.EventTypes, Disabled: e.Disabled, RateLimit: e.ThrottleRate, ThrottleRate: e.ThrottleRate,
		Metadata: nonNilMap(e.Metadata), CreatedAt: formatTime(e.CreatedAt), UpdatedAt: formatTime(e.UpdatedAt),
		DisabledAt: optTime(e.DisabledAt), DisabledReason: strPtr(e.DisabledReason)}
}

// opApp returns the operational application; when create is set it makes
// it if there is none yet.
func (s *server) opApp(r *http.Request, create bool) (*herald.Application, error) {
	app, err := s.store.ApplicationGet(r.Context(), herald.OperationalAppUID)
	if !herald.IsNotFound(err) || !create {
		return app, err
	}
	now := s.cfg.Now()
	app = &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), UID: herald.OperationalAppUID,
		Name: "Herald operational webhooks", CreatedAt: now, UpdatedAt: now}
	err = s.store.ApplicationCreate(r.Context(), app)
	if herald.ErrorCode(err) == herald.EConflict { // made meanwhile
		return s.store.ApplicationGet(r.Context(), herald.OperationalAppUID)
	}
	return app, err
}

// inOperational runs h as a request on the operational application: its
// {app_id} is that application's ID, which app() then resolves. A missing
// application answers 404, as would its endpoints.
func (s *server) inOperational(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app, err := s.opApp(r, false)
		if herald.IsNotFound(err) {
			err = herald.Errorf(herald.ENotFound, "Endpoint not found")
		}
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), operationalKey{}, true))
		r.SetPathValue("app_id", app.ID)
		h(w, r)
	}
}

func (s *server) listOpEndpoints(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(true)
	if err := q.errs.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.opApp(r, false)
	if herald.IsNotFound(err) {
		writeJSON(w, http.StatusOK, listOut[opEndpointOut]{Data: []opEndpointOut{}, Done: true})
		return
	}
	var page herald.Page[herald.Endpoint]
	if err == nil {
		page, err = s.store.EndpointList(r.Context(), app.ID, p)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, toOpEndpoint))
}

func (s *server) createOpEndpoint(w http.ResponseWriter, r *http.Request) {
	var in opEndpointIn
	if err := s.decodeValid(w, r, &in, nil, in.validate); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.opApp(r, true)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	ep, err := s.newEndpoint(r, app.ID, in.endpointIn())
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusCreated, toOpEndpoint(ep))
}

func (s *server) getOpEndpoint(w http.ResponseWriter, r *http.Request) {
	_, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toOpEndpoint(ep))
}

func (s *server) updateOpEndpoint(w http.ResponseWriter, r *http.Request) {
	var in opEndpointIn
	if err := s.decodeValid(w, r, &in, nil, in.validate); err != nil {
		writeError(w, err, s.log)
		return
	}
	_, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	in.endpointIn().apply(ep, false)
	ep.UpdatedAt = s.cfg.Now()
	if !ep.Disabled {
		ep.DisabledAt, ep.DisabledReason = nil, ""
	}
	if err := s.store.EndpointUpdate(r.Context(), ep); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toOpEndpoint(ep))
}
