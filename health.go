package herald

import (
	"context"
	"encoding/json"
	"time"
)

// OperationalAppUID is the uid of the reserved application whose endpoints
// are the operator's operational-webhook endpoints. Events about the system
// (operational events) are messages of this application, so they are
// signed, retried and recorded like any other. It is hidden from the
// application list and cannot be reached through the application API.
const OperationalAppUID = "herald-operational"

// Operational event types, as named by Svix.
const (
	OpEndpointDisabled        = "endpoint.disabled"
	OpEndpointEnabled         = "endpoint.enabled"
	OpMessageAttemptFailing   = "message.attempt.failing"
	OpMessageAttemptExhausted = "message.attempt.exhausted"
	OpMessageAttemptRecovered = "message.attempt.recovered"
)

// OperationalEventTypes lists every operational event type.
var OperationalEventTypes = []string{OpEndpointDisabled, OpEndpointEnabled, OpMessageAttemptFailing,
	OpMessageAttemptExhausted, OpMessageAttemptRecovered}

// FailingStreak is the consecutive failure of an endpoint on which
// message.attempt.failing is sent, once per streak (Svix: the fourth).
const FailingStreak = 4

// HealthGap is the longest time between two failures of one streak: an
// endpoint whose failures are further apart than this has not been
// failing continuously, and its streak starts again at the later one.
const HealthGap = 24 * time.Hour

// OperationalRetentionDays is how long operational messages keep their
// payload.
const OperationalRetentionDays = 90

// DisabledReasonFailing is the DisabledReason of an endpoint disabled
// automatically; DisabledReasonManual that of one disabled through the API.
const (
	DisabledReasonFailing = "Endpoint disabled automatically: every delivery failed since %s"
	DisabledReasonManual  = "Endpoint disabled manually"
)

// EndpointHealth is the bookkeeping of an endpoint's recent outcomes,
// updated with every attempt result; zero times mean "none".
type EndpointHealth struct {
	EndpointID string
	AppID      string
	// FirstFailureAt is the first failure of the current streak (failures
	// since the last success, none further apart than HealthGap).
	FirstFailureAt time.Time
	LastFailureAt  time.Time
	LastSuccessAt  time.Time
	// ConsecutiveFailures counts the failures since the last success.
	ConsecutiveFailures int
	// DisabledAt and DisabledReason say when and why the endpoint was
	// disabled; zero and "" while it is enabled.
	DisabledAt     time.Time
	DisabledReason string
}

// Record applies the outcome of an attempt made at at, and returns the
// operational event it causes ("" for none): message.attempt.failing on
// the FailingStreak-th consecutive failure, message.attempt.recovered on a
// success after a streak that reached it.
func (h *EndpointHealth) Record(success bool, at time.Time) string {
	if success {
		streak := h.ConsecutiveFailures
		h.LastSuccessAt, h.FirstFailureAt, h.ConsecutiveFailures = at, time.Time{}, 0
		if streak >= FailingStreak {
			return OpMessageAttemptRecovered
		}
		return ""
	}
	if h.FirstFailureAt.IsZero() || at.Sub(h.LastFailureAt) > HealthGap {
		h.FirstFailureAt = at
	}
	if at.After(h.LastFailureAt) {
		h.LastFailureAt = at
	}
	h.ConsecutiveFailures++
	if h.ConsecutiveFailures == FailingStreak {
		return OpMessageAttemptFailing
	}
	return ""
}

// AutoDisableParams selects the endpoints to disable automatically.
type AutoDisableParams struct {
	// Now is the current time, stored as DisabledAt.
	Now time.Time
	// FailingSince: endpoints whose current failure streak started at or
	// before it are disabled...
	FailingSince time.Time
	// FailedAfter: ...provided their last failure came after it (they
	// are still being tried and still failing).
	FailedAfter time.Time
	// Limit is the most endpoints to disable in one call.
	Limit int
}

// HealthStore keeps endpoint health and disables failing endpoints.
type HealthStore interface {
	// EndpointHealthGet returns the endpoint's health; a zero record (with
	// EndpointID set) if no attempt result was written for it.
	EndpointHealthGet(ctx context.Context, endpointID string) (EndpointHealth, error)
	// EndpointAutoDisable disables up to p.Limit enabled endpoints that
	// have failed continuously since p.FailingSince or before and last
	// failed after p.FailedAfter, setting their DisabledAt and
	// DisabledReason and, in the same transaction, emitting
	// endpoint.disabled for each (see OperationalAppUID). It returns the
	// endpoints it disabled.
	EndpointAutoDisable(ctx context.Context, p AutoDisableParams) ([]Endpoint, error)
}

// lastAttemptJSON is Svix's MessageAttemptLast.
type lastAttemptJSON struct {
	ID                 string    `json:"id"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	Timestamp          time.Time `json:"timestamp"`
}

// attemptEventData is the data of the message.attempt.* events.
type attemptEventData struct {
	AppID       string          `json:"appId"`
	AppUID      *string         `json:"appUid"`
	EndpointID  string          `json:"endpointId"`
	MsgID       string          `json:"msgId"`
	MsgEventID  *string         `json:"msgEventId"`
	LastAttempt lastAttemptJSON `json:"lastAttempt"`
}

// endpointEventData is the data of the endpoint.* events.
type endpointEventData struct {
	AppID       string     `json:"appId"`
	AppUID      *string    `json:"appUid"`
	EndpointID  string     `json:"endpointId"`
	EndpointUID *string    `json:"endpointUid"`
	FailSince   *time.Time `json:"failSince,omitempty"`
	Trigger     string     `json:"trigger,omitempty"`
}

type operationalEvent struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AttemptEventPayload returns the payload of a message.attempt.* event
// about attempt a of the message msgID (user event id msgEventID) of the
// application appID (uid appUID).
func AttemptEventPayload(typ, appUID, msgEventID string, a *Attempt) json.RawMessage {
	b, _ := json.Marshal(operationalEvent{Type: typ, Data: attemptEventData{
		AppID: a.AppID, AppUID: nilIfEmpty(appUID), EndpointID: a.EndpointID, MsgID: a.MsgID,
		MsgEventID: nilIfEmpty(msgEventID),
		LastAttempt: lastAttemptJSON{ID: a.ID, ResponseStatusCode: a.ResponseStatusCode,
			Timestamp: a.CreatedAt.UTC()}}})
	return b
}

// EndpointEventPayload returns the payload of an endpoint.* event about
// ep of the application with uid appUID. failSince is set for
// endpoint.disabled (the start of the failures that disabled it).
func EndpointEventPayload(typ, appUID string, ep *Endpoint, failSince time.Time) json.RawMessage {
	d := endpointEventData{AppID: ep.AppID, AppUID: nilIfEmpty(appUID), EndpointID: ep.ID,
		EndpointUID: nilIfEmpty(ep.UID)}
	if typ == OpEndpointDisabled {
		fs := failSince.UTC()
		d.FailSince, d.Trigger = &fs, "automatic"
	}
	b, _ := json.Marshal(operationalEvent{Type: typ, Data: d})
	return b
}

// Disable records that ep was just disabled through the API: at its
// UpdatedAt, for its DisabledReason if set, else manually. It sets the
// same time and reason on ep.
func (h *EndpointHealth) Disable(ep *Endpoint) {
	h.DisabledAt, h.DisabledReason = ep.UpdatedAt, DisabledReasonManual
	if ep.DisabledReason != "" {
		h.DisabledReason = ep.DisabledReason
	}
	at := h.DisabledAt
	ep.DisabledAt, ep.DisabledReason = &at, h.DisabledReason
}

// DisabledEndpointIDs returns the IDs of the disabled endpoints of eps.
func DisabledEndpointIDs(eps []Endpoint) []string {
	var ids []string
	for i := range eps {
		if eps[i].Disabled {
			ids = append(ids, eps[i].ID)
		}
	}
	return ids
}

// Apply records the result of an attempt to h's endpoint and returns the
// operational events it causes, in order: failing or recovered, then
// exhausted when the delivery spent its schedule. A result for a disabled
// endpoint (not attempted) changes nothing, nor does one that was not sent
// (DeliveryResult.NotSent); a result of the operational
// application opApp causes no events (no loops), nor does any when opApp
// is "" (no operational endpoints).
func (h *EndpointHealth) Apply(r *DeliveryResult, opApp string) []string {
	if !h.DisabledAt.IsZero() || r.NotSent {
		return nil
	}
	a := &r.Attempt
	ev := h.Record(a.Status == StatusSuccess, a.CreatedAt)
	if opApp == "" || a.AppID == opApp {
		return nil
	}
	var out []string
	if ev != "" {
		out = append(out, ev)
	}
	if r.Status == StatusFail {
		out = append(out, OpMessageAttemptExhausted)
	}
	return out
}
