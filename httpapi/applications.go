package httpapi

import (
	"net/http"
	"strings"

	"github.com/herald-webhooks/herald"
)

// applicationIn is the body of application create, update and patch.
type applicationIn struct {
	Name         opt[string]            `json:"name"`
	UID          opt[string]            `json:"uid"`
	ThrottleRate opt[int]               `json:"throttleRate"`
	Metadata     opt[map[string]string] `json:"metadata"`
}

// validate checks the fields present; name is required unless patching.
func (in *applicationIn) validate(p *problems, patch bool, loc ...string) {
	at := func(f string) []string { return append(append([]string{"body"}, loc...), f) }
	if name, ok := in.Name.value(); ok {
		if name == "" {
			p.add("name must not be empty", at("name")...)
		}
	} else if !patch || in.Name.Null {
		p.add("name is required", at("name")...)
	}
	if uid, ok := in.UID.value(); ok && !herald.ValidUID(uid) {
		p.add("uid must be 1 to 256 of a-z A-Z 0-9 - _ .", at("uid")...)
	}
	if uid, _ := in.UID.value(); uid == herald.OperationalAppUID {
		p.add("uid "+quote(uid)+" is reserved for operational webhooks", at("uid")...)
	}
	validateThrottle(p, in.ThrottleRate, at("throttleRate"))
	validateText(p, in.Name, at("name")...)
	validateMetadata(p, in.Metadata, at("metadata")...)
}

func validateThrottle(p *problems, v opt[int], loc []string) {
	if n, ok := v.value(); ok && (n < 1 || n > 65535) {
		p.add("throttleRate must be from 1 to 65535", loc...)
	}
}

// apply sets the present fields on app (all of them unless patch).
func (in *applicationIn) apply(app *herald.Application, patch bool) {
	if v, ok := in.Name.value(); ok {
		app.Name = v
	}
	if in.UID.Set || !patch {
		app.UID, _ = in.UID.value()
	}
	if in.ThrottleRate.Set || !patch {
		if v, ok := in.ThrottleRate.value(); ok {
			app.ThrottleRate = &v
		} else {
			app.ThrottleRate = nil
		}
	}
	if in.Metadata.Set || !patch {
		app.Metadata, _ = in.Metadata.value()
	}
}

func (s *server) listApplications(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(true)
	if err := q.errs.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.ApplicationList(r.Context(), p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, toApplication))
}

func (s *server) createApplication(w http.ResponseWriter, r *http.Request) {
	var in applicationIn
	q := newQuery(r.URL)
	getIfExists := q.boolean("get_if_exists", false)
	if err := s.decodeValid(w, r, &in, q.errs, func(p *problems) { in.validate(p, false) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	if uid, ok := in.UID.value(); ok && getIfExists {
		if app, err := s.store.ApplicationGet(r.Context(), uid); err == nil {
			writeJSON(w, http.StatusOK, toApplication(app))
			return
		}
	}
	app, err := s.newApplication(r, &in)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusCreated, toApplication(app))
}

// newApplication stores a new application made from in.
func (s *server) newApplication(r *http.Request, in *applicationIn) (*herald.Application, error) {
	now := s.cfg.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), CreatedAt: now, UpdatedAt: now}
	in.apply(app, false)
	if app.UID == herald.OperationalAppUID {
		return nil, errReservedUID
	}
	if err := s.store.ApplicationCreate(r.Context(), app); err != nil {
		return nil, err
	}
	return app, nil
}

func (s *server) getApplication(w http.ResponseWriter, r *http.Request) {
	app, err := s.app(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toApplication(app))
}

// putApplication updates the application, or creates it (201) when the
// path's id or uid names none; a new one takes the path value as uid.
func (s *server) putApplication(w http.ResponseWriter, r *http.Request) {
	var in applicationIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, false) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.app(r)
	if herald.IsNotFound(err) {
		if !in.UID.Set || in.UID.Null {
			in.UID = opt[string]{Set: true, V: r.PathValue("app_id")}
		}
		created, err := s.newApplication(r, &in)
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		writeJSON(w, http.StatusCreated, toApplication(created))
		return
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	s.saveApplication(w, r, app, &in, false)
}

func (s *server) patchApplication(w http.ResponseWriter, r *http.Request) {
	var in applicationIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, true) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.app(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	s.saveApplication(w, r, app, &in, true)
}

func (s *server) saveApplication(w http.ResponseWriter, r *http.Request, app *herald.Application, in *applicationIn, patch bool) {
	in.apply(app, patch)
	app.UpdatedAt = s.cfg.Now()
	if err := s.store.ApplicationUpdate(r.Context(), app); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toApplication(app))
}

func (s *server) deleteApplication(w http.ResponseWriter, r *http.Request) {
	app, err := s.app(r)
	if err == nil {
		err = s.store.ApplicationDelete(r.Context(), app.ID)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}

// errReservedUID refuses an application with the operational uid.
var errReservedUID = herald.Errorf(herald.EInvalid, "The uid '"+herald.OperationalAppUID+"' is reserved for operational webhooks")

// errAppNotFound answers for the operational application to app-scoped
// tokens.
var errAppNotFound = herald.Errorf(herald.ENotFound, "Application not found")

// errOperationalReadOnly answers an admin's change to the operational
// application through the application API.
var errOperationalReadOnly = herald.Errorf(herald.EForbidden,
	"The operational application is managed through /api/v1/operational-webhook; here its messages and attempts can only be read and resent")

// app resolves the {app_id} path value (id or uid). The operational
// application is managed under the operational-webhook API; through the
// application API an admin may only read it and resend its messages, so
// that the operator can see what was sent to the operational endpoints,
// and app-scoped tokens never find it.
func (s *server) app(r *http.Request) (*herald.Application, error) {
	app, err := s.store.ApplicationGet(r.Context(), r.PathValue("app_id"))
	if err != nil || app.UID != herald.OperationalAppUID || operational(r.Context()) {
		return app, err
	}
	if p := principalFrom(r.Context()); p == nil || !p.admin {
		return nil, errAppNotFound
	}
	reads := r.Method == http.MethodGet || r.Method == http.MethodHead
	if !reads && !strings.HasSuffix(r.Pattern, "/resend") {
		return nil, errOperationalReadOnly
	}
	return app, nil
}

// decodeValid decodes the body into v, then runs validate; query problems
// found before are reported with the body's.
func (s *server) decodeValid(w http.ResponseWriter, r *http.Request, v any, prior problems, validate func(*problems)) error {
	if err := s.decode(w, r, v, false); err != nil {
		return err
	}
	p := append(problems{}, prior...)
	validate(&p)
	return p.err()
}
