package httpapi

import (
	"net/http"

	"github.com/herald-webhooks/herald"
)

// attemptFilter reads the attempt list filters shared by both attempt lists.
func attemptFilter(q *query) herald.AttemptFilter {
	return herald.AttemptFilter{MessageFilter: q.messageFilter(), Status: q.status("status"), StatusCodeClass: q.statusCodeClass()}
}

func (s *server) listAttemptsByEndpoint(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p, f := q.listParams(false), attemptFilter(q)
	q.boolean("with_content", true)
	app, ep, err := s.endpoint(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	f.EndpointID = ep.ID
	s.writeAttempts(w, r, app.ID, f, p)
}

func (s *server) listAttemptsByMessage(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p, f := q.listParams(false), attemptFilter(q)
	q.boolean("with_content", true)
	app, msg, err := s.message(r)
	if err == nil {
		err = q.errs.err()
	}
	if err == nil && q.v.Get("endpoint_id") != "" {
		var ep *herald.Endpoint
		if ep, err = s.store.EndpointGet(r.Context(), app.ID, q.v.Get("endpoint_id")); err == nil {
			f.EndpointID = ep.ID
		}
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	f.MsgID = msg.ID
	s.writeAttempts(w, r, app.ID, f, p)
}

func (s *server) writeAttempts(w http.ResponseWriter, r *http.Request, appID string, f herald.AttemptFilter, p herald.ListParams) {
	page, err := s.store.AttemptList(r.Context(), appID, f, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, toAttempt))
}

func (s *server) getAttempt(w http.ResponseWriter, r *http.Request) {
	app, msg, err := s.message(r)
	var a *herald.Attempt
	if err == nil {
		a, err = s.store.AttemptGet(r.Context(), app.ID, msg.ID, r.PathValue("attempt_id"))
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toAttempt(a))
}

func (s *server) expungeAttemptContent(w http.ResponseWriter, r *http.Request) {
	app, msg, err := s.message(r)
	if err == nil {
		err = s.store.AttemptExpungeContent(r.Context(), app.ID, msg.ID, r.PathValue("attempt_id"))
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}

// listAttemptedMessages lists the messages sent to an endpoint, with their
// delivery status there.
func (s *server) listAttemptedMessages(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p, f := q.listParams(false), q.messageFilter()
	status := q.status("status")
	withContent := q.boolean("with_content", true)
	app, ep, err := s.endpoint(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.EndpointMessageList(r.Context(), app.ID, ep.ID, f, status, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, func(m *herald.EndpointMessage) endpointMessageOut { return toEndpointMessage(m, withContent) }))
}

// listAttemptedDestinations lists the endpoints a message was sent to,
// with its delivery status at each.
func (s *server) listAttemptedDestinations(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(false)
	app, msg, err := s.message(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.MessageEndpointList(r.Context(), app.ID, msg.ID, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, toMessageEndpoint))
}

// resend queues the message for the endpoint again, as a manual attempt.
func (s *server) resend(w http.ResponseWriter, r *http.Request) {
	app, msg, err := s.message(r)
	var ep *herald.Endpoint
	if err == nil {
		ep, err = s.store.EndpointGet(r.Context(), app.ID, r.PathValue("endpoint_id"))
	}
	if err == nil {
		err = s.store.DeliveryResend(r.Context(), app.ID, msg.ID, ep.ID, s.cfg.Now())
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}
