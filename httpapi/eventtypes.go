package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/herald-webhooks/herald"
)

// eventTypeIn is the body of event type create, update and patch.
type eventTypeIn struct {
	Name        opt[string]          `json:"name"`
	Description opt[string]          `json:"description"`
	Archived    opt[bool]            `json:"archived"`
	Deprecated  opt[bool]            `json:"deprecated"`
	FeatureFlag opt[string]          `json:"featureFlag"`
	Schemas     opt[json.RawMessage] `json:"schemas"`
}

func (in *eventTypeIn) validate(p *problems, needName, needDescription bool) {
	if needName {
		if n, ok := in.Name.value(); !ok || !herald.ValidEventTypeName(n) {
			p.add("name must be 1 to 256 of a-z A-Z 0-9 - _ .", "body", "name")
		}
	}
	if _, ok := in.Description.value(); needDescription && !ok {
		p.add("description is required", "body", "description")
	}
	if f, ok := in.FeatureFlag.value(); ok && !herald.ValidUID(f) {
		p.add("featureFlag must be 1 to 256 of a-z A-Z 0-9 - _ .", "body", "featureFlag")
	}
	validateText(p, in.Description, "body", "description")
	if sc, ok := in.Schemas.value(); ok && (len(sc) == 0 || sc[0] != '{') {
		p.add("schemas must be an object", "body", "schemas")
	}
}

func (in *eventTypeIn) apply(et *herald.EventType, patch bool) {
	if v, ok := in.Description.value(); ok {
		et.Description = v
	}
	if in.Archived.Set || !patch {
		et.Archived, _ = in.Archived.value()
	}
	if in.Deprecated.Set || !patch {
		et.Deprecated, _ = in.Deprecated.value()
	}
	if in.FeatureFlag.Set || !patch {
		et.FeatureFlag, _ = in.FeatureFlag.value()
	}
	if in.Schemas.Set || !patch {
		et.Schemas, _ = in.Schemas.value()
	}
}

func (s *server) listEventTypes(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(true)
	archived := q.boolean("include_archived", false)
	withContent := q.boolean("with_content", true)
	if err := q.errs.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.EventTypeList(r.Context(), p, archived)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, func(et *herald.EventType) eventTypeOut {
		out := toEventType(et)
		if !withContent {
			out.Schemas = nil
		}
		return out
	}))
}

func (s *server) createEventType(w http.ResponseWriter, r *http.Request) {
	var in eventTypeIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, true, true) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	et, err := s.newEventType(r, in.Name.V, &in)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusCreated, toEventType(et))
}

func (s *server) newEventType(r *http.Request, name string, in *eventTypeIn) (*herald.EventType, error) {
	now := s.cfg.Now()
	et := &herald.EventType{Name: name, CreatedAt: now, UpdatedAt: now}
	in.apply(et, false)
	return et, s.store.EventTypeCreate(r.Context(), et)
}

func (s *server) getEventType(w http.ResponseWriter, r *http.Request) {
	et, err := s.store.EventTypeGet(r.Context(), r.PathValue("event_type_name"))
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toEventType(et))
}

// putEventType updates the event type, or creates it (201).
func (s *server) putEventType(w http.ResponseWriter, r *http.Request) {
	var in eventTypeIn
	name := r.PathValue("event_type_name")
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) {
		in.validate(p, false, true)
		if !herald.ValidEventTypeName(name) {
			p.add("invalid event type name", "path", "event_type_name")
		}
	}); err != nil {
		writeError(w, err, s.log)
		return
	}
	et, err := s.store.EventTypeGet(r.Context(), name)
	if herald.IsNotFound(err) {
		created, err := s.newEventType(r, name, &in)
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		writeJSON(w, http.StatusCreated, toEventType(created))
		return
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	s.saveEventType(w, r, et, &in, false)
}

func (s *server) patchEventType(w http.ResponseWriter, r *http.Request) {
	var in eventTypeIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) { in.validate(p, false, false) }); err != nil {
		writeError(w, err, s.log)
		return
	}
	et, err := s.store.EventTypeGet(r.Context(), r.PathValue("event_type_name"))
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	s.saveEventType(w, r, et, &in, true)
}

func (s *server) saveEventType(w http.ResponseWriter, r *http.Request, et *herald.EventType, in *eventTypeIn, patch bool) {
	in.apply(et, patch)
	et.UpdatedAt = s.cfg.Now()
	if err := s.store.EventTypeUpdate(r.Context(), et); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toEventType(et))
}

// deleteEventType archives the event type, or removes it for good with
// ?expunge=true.
func (s *server) deleteEventType(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	expunge := q.boolean("expunge", false)
	if err := q.errs.err(); err != nil {
		writeError(w, err, s.log)
		return
	}
	et, err := s.store.EventTypeGet(r.Context(), r.PathValue("event_type_name"))
	if err == nil {
		if expunge {
			err = s.store.EventTypeDelete(r.Context(), et.Name)
		} else {
			et.Archived, et.UpdatedAt = true, s.cfg.Now()
			err = s.store.EventTypeUpdate(r.Context(), et)
		}
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}
