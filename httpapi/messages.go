package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-webhooks/herald"
)

// messageIn is the body of message create.
type messageIn struct {
	EventType              opt[string]          `json:"eventType"`
	EventID                opt[string]          `json:"eventId"`
	Channels               opt[[]string]        `json:"channels"`
	Payload                opt[json.RawMessage] `json:"payload"`
	PayloadRetentionPeriod opt[int]             `json:"payloadRetentionPeriod"`
	DeliverAt              opt[string]          `json:"deliverAt"`
	Application            opt[applicationIn]   `json:"application"`
}

// deliverAt returns the parsed deliverAt (nil when not set), adding a
// problem when it is not an RFC 3339 time or is more than
// herald.MaxDeliverAtDelay after now. A time in the past means at once.
func (in *messageIn) deliverAt(p *problems, now time.Time) *time.Time {
	v, ok := in.DeliverAt.value()
	if !ok {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	switch {
	case err != nil:
		p.add("deliverAt must be an RFC 3339 date-time, such as 2030-01-02T15:04:05Z", "body", "deliverAt")
		return nil
	case at.After(now.Add(herald.MaxDeliverAtDelay)):
		p.add(fmt.Sprintf("deliverAt must be at most %d days in the future", herald.MaxDeliverAtDelay/herald.RetentionDay),
			"body", "deliverAt")
		return nil
	}
	// Stores keep microseconds: round up, never to before the time asked.
	if c := at.Truncate(time.Microsecond); c.Before(at) {
		at = c.Add(time.Microsecond)
	}
	at = at.UTC()
	return &at
}

func (in *messageIn) validate(p *problems) {
	if et, ok := in.EventType.value(); !ok || !herald.ValidEventTypeName(et) {
		p.add("eventType must be 1 to 256 of a-z A-Z 0-9 - _ .", "body", "eventType")
	}
	if pl, ok := in.Payload.value(); !ok || len(pl) == 0 || pl[0] != '{' {
		p.add("payload must be a JSON object", "body", "payload")
	}
	if id, ok := in.EventID.value(); ok && !herald.ValidUID(id) {
		p.add("eventId must be 1 to 256 of a-z A-Z 0-9 - _ .", "body", "eventId")
	}
	if ch, ok := in.Channels.value(); ok {
		validateNames(p, ch, 5, herald.ValidChannel, "channels")
	}
	if n, ok := in.PayloadRetentionPeriod.value(); ok && (n < 5 || n > 90) {
		p.add("payloadRetentionPeriod must be from 5 to 90 days", "body", "payloadRetentionPeriod")
	}
	if app, ok := in.Application.value(); ok {
		app.validate(p, false, "application")
	}
}

// createMessage stores the message and its deliveries in one durable
// commit, then answers 202.
func (s *server) createMessage(w http.ResponseWriter, r *http.Request) {
	var in messageIn
	var deliverAt *time.Time
	q := newQuery(r.URL)
	withContent := q.boolean("with_content", true)
	now := s.cfg.Now()
	validate := func(p *problems) {
		in.validate(p)
		deliverAt = in.deliverAt(p, now)
	}
	if err := s.decodeValid(w, r, &in, q.errs, validate); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, err := s.app(r)
	if appIn, ok := in.Application.value(); ok && herald.IsNotFound(err) {
		if !appIn.UID.Set || appIn.UID.Null {
			appIn.UID = opt[string]{Set: true, V: r.PathValue("app_id")}
		}
		app, err = s.newApplication(r, &appIn)
		if herald.IsConflict(err) { // created meanwhile by a concurrent request
			app, err = s.app(r)
		}
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: in.EventType.V,
		Payload: in.Payload.V, PayloadRetentionDays: 90, DeliverAt: deliverAt, CreatedAt: now}
	msg.EventID, _ = in.EventID.value()
	msg.Channels, _ = in.Channels.value()
	if n, ok := in.PayloadRetentionPeriod.value(); ok {
		msg.PayloadRetentionDays = n
	}
	msg.PayloadExpiresAt = now.Add(time.Duration(msg.PayloadRetentionDays) * s.cfg.RetentionDay)
	if _, err := s.store.MessageCreate(r.Context(), msg, nil); err != nil {
		if herald.IsConflict(err) {
			err = herald.Errorf(herald.EConflict, "A message with this eventId already exists in this application.")
		}
		writeError(w, err, s.log)
		return
	}
	s.observeMessageAccepted()
	writeMessage(w, http.StatusAccepted, toMessage(msg, withContent))
}

// writeMessage answers with a message, its payload spliced in as stored:
// byte for byte what receivers get, and without re-encoding it (payloads
// are checked as JSON when they arrive).
func writeMessage(w http.ResponseWriter, status int, m messageOut) {
	payload := m.Payload
	m.Payload = nil
	head, err := json.Marshal(m) // "payload" is omitted while nil
	if err != nil || len(head) < 2 {
		writeJSON(w, status, m)
		return
	}
	out := make([]byte, 0, len(head)+len(payload)+12)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"payload":`...)
	out = append(out, payload...)
	out = append(out, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}

func (s *server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := q.listParams(false)
	f := q.messageFilter()
	withContent := q.boolean("with_content", true)
	app, err := s.app(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	page, err := s.store.MessageList(r.Context(), app.ID, f, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toList(page, func(m *herald.Message) messageOut { return toMessage(m, withContent) }))
}

func (s *server) getMessage(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	withContent := q.boolean("with_content", true)
	_, msg, err := s.message(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeMessage(w, http.StatusOK, toMessage(msg, withContent))
}

func (s *server) expungeMessageContent(w http.ResponseWriter, r *http.Request) {
	app, msg, err := s.message(r)
	if err == nil {
		err = s.store.MessageExpungeContent(r.Context(), app.ID, msg.ID)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}

// message resolves {app_id} then {msg_id} (id or eventId) within it.
func (s *server) message(r *http.Request) (*herald.Application, *herald.Message, error) {
	app, err := s.app(r)
	if err != nil {
		return nil, nil, err
	}
	msg, err := s.store.MessageGet(r.Context(), app.ID, r.PathValue("msg_id"))
	return app, msg, err
}
