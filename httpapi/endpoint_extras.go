package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/signing"
)

// sensitiveHeaders are shown by name only: their values are credentials.
var sensitiveHeaders = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true, "x-api-key": true}

// reservedHeaders are set by Herald on every attempt and cannot be custom.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "host": true, "transfer-encoding": true, "connection": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"svix-id": true, "svix-timestamp": true, "svix-signature": true,
}

type headersIn struct {
	Headers opt[map[string]*string] `json:"headers"`
}

type headersOut struct {
	Headers   map[string]string `json:"headers"`
	Sensitive []string          `json:"sensitive"`
}

func validHeaderName(n string) bool {
	if n == "" || len(n) > 256 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (in *headersIn) validate(p *problems) {
	h, ok := in.Headers.value()
	if !ok {
		p.add("headers is required", "body", "headers")
		return
	}
	if len(h) > herald.MaxEndpointHeaders {
		p.add(fmt.Sprintf("headers has more than %d entries", herald.MaxEndpointHeaders), "body", "headers")
	}
	for name, v := range h {
		switch {
		case v != nil && len(name)+len(*v) > herald.MaxEndpointHeaderBytes:
			p.add(fmt.Sprintf("header %s is longer than %d bytes", quote(name), herald.MaxEndpointHeaderBytes), "body", "headers")
		case !validHeaderName(name):
			p.add("invalid header name "+quote(name), "body", "headers")
		case reservedHeaders[strings.ToLower(name)]:
			p.add("header "+quote(name)+" is set by Herald and cannot be overridden", "body", "headers")
		case v != nil && strings.ContainsAny(*v, "\r\n"):
			p.add("header values must not contain line breaks", "body", "headers")
		}
	}
}

func (s *server) getEndpointHeaders(w http.ResponseWriter, r *http.Request) {
	_, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	out := headersOut{Headers: map[string]string{}, Sensitive: []string{}}
	for k, v := range ep.Headers {
		if sensitiveHeaders[strings.ToLower(k)] {
			out.Sensitive = append(out.Sensitive, k)
			continue
		}
		out.Headers[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// setEndpointHeaders replaces (PUT) or merges (PATCH; a null value removes
// the header) the endpoint's custom headers.
func (s *server) setEndpointHeaders(merge bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in headersIn
		if err := s.decodeValid(w, r, &in, nil, in.validate); err != nil {
			writeError(w, err, s.log)
			return
		}
		_, ep, err := s.endpoint(r)
		if err != nil {
			writeError(w, err, s.log)
			return
		}
		next := map[string]string{}
		if merge {
			for k, v := range ep.Headers {
				next[k] = v
			}
		}
		for k, v := range in.Headers.V {
			if v == nil {
				delete(next, k)
			} else {
				next[k] = *v
			}
		}
		if len(next) > herald.MaxEndpointHeaders {
			p := problems{}
			p.add(fmt.Sprintf("the endpoint would have more than %d headers", herald.MaxEndpointHeaders), "body", "headers")
			writeError(w, p.err(), s.log)
			return
		}
		ep.Headers = next
		ep.UpdatedAt = s.cfg.Now()
		if err := s.store.EndpointUpdate(r.Context(), ep); err != nil {
			writeError(w, err, s.log)
			return
		}
		writeNoContent(w)
	}
}

// getEndpointSecret returns the current secret; for an ed25519 key, its
// public half only.
func (s *server) getEndpointSecret(w http.ResponseWriter, r *http.Request) {
	_, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	key := ""
	if len(ep.Secrets) > 0 {
		key = ep.Secrets[0].Key
	}
	if strings.HasPrefix(key, signing.PrefixSecretKey) {
		if k, err := signing.ParseKey(key); err == nil {
			key = k.PublicKey()
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": key})
}

type rotateIn struct {
	Key                opt[string] `json:"key"`
	GracePeriodSeconds opt[int64]  `json:"gracePeriodSeconds"`
}

// rotateEndpointSecret makes a new current secret; the old one keeps
// signing for the grace period (default 24 hours, at most 7 days).
func (s *server) rotateEndpointSecret(w http.ResponseWriter, r *http.Request) {
	var in rotateIn
	if err := s.decode(w, r, &in, true); err != nil {
		writeError(w, err, s.log)
		return
	}
	p := problems{}
	if k, ok := in.Key.value(); ok && !validSecret(k) {
		p.add("key must be whsec_ followed by 32 to 100 base64 characters, or a whsk_ ed25519 key", "body", "key")
	}
	grace := int64(24 * 3600)
	if g, ok := in.GracePeriodSeconds.value(); ok {
		if g < 0 || g > 7*24*3600 {
			p.add("gracePeriodSeconds must be from 0 to 604800", "body", "gracePeriodSeconds")
		}
		grace = g
	}
	_, ep, err := s.endpoint(r)
	if err == nil {
		err = p.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	now := s.cfg.Now()
	key, ok := in.Key.value()
	if !ok {
		key = signing.NewSecret()
	}
	expires := now.Add(time.Duration(grace) * time.Second)
	secrets := []herald.EndpointSecret{{Key: normaliseSecret(key)}}
	for i, old := range ep.Secrets {
		switch {
		case i == 0 && grace > 0:
			secrets = append(secrets, herald.EndpointSecret{Key: old.Key, ExpiresAt: &expires})
		case i > 0 && old.ExpiresAt != nil && old.ExpiresAt.After(now):
			secrets = append(secrets, old)
		}
	}
	ep.Secrets = secrets
	ep.UpdatedAt = now
	if err := s.store.EndpointUpdate(r.Context(), ep); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeNoContent(w)
}

func (s *server) endpointStats(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	since, until := q.time("since"), q.time("until")
	app, ep, err := s.endpoint(r)
	if err == nil {
		err = q.errs.err()
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	from, to := time.Unix(0, 0), s.cfg.Now().Add(time.Hour)
	if since != nil {
		from = *since
	}
	if until != nil {
		to = *until
	}
	st, err := s.store.EndpointStats(r.Context(), app.ID, ep.ID, from, to)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"success": st.Success, "pending": st.Pending, "fail": st.Fail, "sending": st.Sending, "canceled": st.Canceled})
}

type exampleIn struct {
	EventType opt[string] `json:"eventType"`
}

// sendExample sends an example message of an event type to this endpoint
// only: the first example of the event type's schemas when it has one.
func (s *server) sendExample(w http.ResponseWriter, r *http.Request) {
	var in exampleIn
	if err := s.decodeValid(w, r, &in, nil, func(p *problems) {
		if et, ok := in.EventType.value(); !ok || !herald.ValidEventTypeName(et) {
			p.add("eventType must be a valid event type name", "body", "eventType")
		}
	}); err != nil {
		writeError(w, err, s.log)
		return
	}
	app, ep, err := s.endpoint(r)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	payload := json.RawMessage(`{"example":true}`)
	if et, err := s.store.EventTypeGet(r.Context(), in.EventType.V); err == nil {
		if ex := schemaExample(et.Schemas); ex != nil {
			payload = ex
		}
	}
	now := s.cfg.Now()
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: in.EventType.V,
		Payload: payload, PayloadRetentionDays: 90, PayloadExpiresAt: now.Add(90 * s.cfg.RetentionDay), CreatedAt: now}
	if _, err := s.store.MessageCreate(r.Context(), msg, []string{ep.ID}); err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, toMessage(msg, true))
}

// schemaExample returns the first "examples" entry (a JSON object) of any
// version's schema, or nil.
func schemaExample(schemas json.RawMessage) json.RawMessage {
	var versions map[string]struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if json.Unmarshal(schemas, &versions) != nil {
		return nil
	}
	for _, v := range versions {
		for _, ex := range v.Examples {
			if len(ex) > 0 && ex[0] == '{' {
				return ex
			}
		}
	}
	return nil
}
