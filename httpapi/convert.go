package httpapi

import (
	"encoding/json"
	"time"

	"github.com/herald-webhooks/herald"
)

// formatTime renders t as RFC 3339 in UTC with microseconds at most.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00")
}

func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// listOut is Svix's list envelope.
type listOut[T any] struct {
	Data         []T     `json:"data"`
	Iterator     *string `json:"iterator"`
	PrevIterator *string `json:"prevIterator"`
	Done         bool    `json:"done"`
}

func toList[S, T any](p herald.Page[S], conv func(*S) T) listOut[T] {
	out := listOut[T]{Data: make([]T, len(p.Items)), Done: p.Done, Iterator: strPtr(p.Iterator), PrevIterator: strPtr(p.PrevIterator)}
	for i := range p.Items {
		out.Data[i] = conv(&p.Items[i])
	}
	return out
}

type applicationOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid,omitempty"`
	Name         string            `json:"name"`
	ThrottleRate *int              `json:"throttleRate,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    string            `json:"createdAt"`
	UpdatedAt    string            `json:"updatedAt"`
}

func toApplication(a *herald.Application) applicationOut {
	return applicationOut{ID: a.ID, UID: strPtr(a.UID), Name: a.Name, ThrottleRate: a.ThrottleRate,
		Metadata: nonNilMap(a.Metadata), CreatedAt: formatTime(a.CreatedAt), UpdatedAt: formatTime(a.UpdatedAt)}
}

type endpointOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid,omitempty"`
	URL          string            `json:"url"`
	Description  string            `json:"description"`
	EventTypes   []string          `json:"eventTypes,omitempty"`
	Channels     []string          `json:"channels,omitempty"`
	Disabled     bool              `json:"disabled"`
	ThrottleRate *int              `json:"throttleRate,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    string            `json:"createdAt"`
	UpdatedAt    string            `json:"updatedAt"`
	// DisabledAt and DisabledReason are Herald's additions: when and why
	// a disabled endpoint was disabled.
	DisabledAt     *string `json:"disabledAt,omitempty"`
	DisabledReason *string `json:"disabledReason,omitempty"`
}

func toEndpoint(e *herald.Endpoint) endpointOut {
	return endpointOut{ID: e.ID, UID: strPtr(e.UID), URL: e.URL, Description: e.Description,
		EventTypes: e.EventTypes, Channels: e.Channels, Disabled: e.Disabled,
		ThrottleRate: e.ThrottleRate, Metadata: nonNilMap(e.Metadata),
		CreatedAt: formatTime(e.CreatedAt), UpdatedAt: formatTime(e.UpdatedAt),
		DisabledAt: optTime(e.DisabledAt), DisabledReason: strPtr(e.DisabledReason)}
}

type eventTypeOut struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Archived    bool            `json:"archived"`
	Deprecated  bool            `json:"deprecated"`
	FeatureFlag *string         `json:"featureFlag,omitempty"`
	Schemas     json.RawMessage `json:"schemas,omitempty"`
	CreatedAt   string          `json:"createdAt"`
	UpdatedAt   string          `json:"updatedAt"`
}

func toEventType(e *herald.EventType) eventTypeOut {
	return eventTypeOut{Name: e.Name, Description: e.Description, Archived: e.Archived, Deprecated: e.Deprecated,
		FeatureFlag: strPtr(e.FeatureFlag), Schemas: e.Schemas, CreatedAt: formatTime(e.CreatedAt), UpdatedAt: formatTime(e.UpdatedAt)}
}

// emptyPayload is shown when content is not asked for or was expunged.
var emptyPayload = json.RawMessage("{}")

// messageOut is a message as the API shows it. Its payload is written as
// stored (see writeMessage), not re-encoded.
type messageOut struct {
	ID        string          `json:"id"`
	EventID   *string         `json:"eventId,omitempty"`
	EventType string          `json:"eventType"`
	Channels  []string        `json:"channels,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	DeliverAt *string         `json:"deliverAt,omitempty"`
	Timestamp string          `json:"timestamp"`
}

func toMessage(m *herald.Message, withContent bool) messageOut {
	p := json.RawMessage(m.Payload)
	if !withContent || p == nil {
		p = emptyPayload
	}
	return messageOut{ID: m.ID, EventID: strPtr(m.EventID), EventType: m.EventType, Channels: m.Channels,
		Payload: p, DeliverAt: optTime(m.DeliverAt), Timestamp: formatTime(m.CreatedAt)}
}

type attemptOut struct {
	ID                 string `json:"id"`
	MsgID              string `json:"msgId"`
	EndpointID         string `json:"endpointId"`
	URL                string `json:"url"`
	Response           string `json:"response"`
	ResponseStatusCode int    `json:"responseStatusCode"`
	ResponseDurationMs int64  `json:"responseDurationMs"`
	Status             int    `json:"status"`
	StatusText         string `json:"statusText"`
	TriggerType        int    `json:"triggerType"`
	Timestamp          string `json:"timestamp"`
}

func toAttempt(a *herald.Attempt) attemptOut {
	return attemptOut{ID: a.ID, MsgID: a.MsgID, EndpointID: a.EndpointID, URL: a.URL, Response: a.Response,
		ResponseStatusCode: a.ResponseStatusCode, ResponseDurationMs: a.ResponseDurationMs,
		Status: int(a.Status), StatusText: a.Status.String(), TriggerType: int(a.Trigger), Timestamp: formatTime(a.CreatedAt)}
}

type endpointMessageOut struct {
	messageOut
	Status      int     `json:"status"`
	StatusText  string  `json:"statusText"`
	NextAttempt *string `json:"nextAttempt,omitempty"`
}

func toEndpointMessage(m *herald.EndpointMessage, withContent bool) endpointMessageOut {
	return endpointMessageOut{messageOut: toMessage(&m.Message, withContent), Status: int(m.Status),
		StatusText: m.Status.String(), NextAttempt: optTime(m.NextAttemptAt)}
}

type messageEndpointOut struct {
	endpointOut
	Status      int     `json:"status"`
	StatusText  string  `json:"statusText"`
	NextAttempt *string `json:"nextAttempt,omitempty"`
}

func toMessageEndpoint(m *herald.MessageEndpoint) messageEndpointOut {
	return messageEndpointOut{endpointOut: toEndpoint(&m.Endpoint), Status: int(m.Status),
		StatusText: m.Status.String(), NextAttempt: optTime(m.NextAttemptAt)}
}
