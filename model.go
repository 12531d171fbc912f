package herald

import (
	"encoding/json"
	"time"
)

// Application is one customer of the Herald user: the owner of endpoints and
// the scope of messages. UID is an optional user-chosen unique alias.
type Application struct {
	ID           string
	UID          string // "" when not set
	Name         string
	ThrottleRate *int // deliveries per second for each endpoint; nil: none
	Metadata     map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Endpoint is a URL that receives an application's messages.
type Endpoint struct {
	ID          string
	AppID       string
	UID         string // "" when not set
	URL         string
	Description string
	// EventTypes limits the endpoint to these event types; empty means all.
	EventTypes []string
	// Channels limits the endpoint to messages sharing one of these
	// channels; empty means all.
	Channels []string
	Disabled bool
	// DisabledAt and DisabledReason say when and why the endpoint was
	// disabled (automatically, see EndpointHealth, or through the API);
	// nil and "" while it is enabled. Stores keep them with the
	// endpoint's health.
	DisabledAt     *time.Time
	DisabledReason string
	ThrottleRate   *int // deliveries per second; nil: no limit
	Metadata       map[string]string
	// Headers are sent with every attempt to this endpoint.
	Headers map[string]string
	// Secrets holds the signing secrets: Secrets[0] is the current one and
	// has no expiry; older ones stay until their ExpiresAt (rotation grace).
	Secrets   []EndpointSecret
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EndpointSecret is one signing secret of an endpoint: "whsec_..." for
// HMAC-SHA256 (v1) or "whsk_..." for ed25519 (v1a).
type EndpointSecret struct {
	Key       string
	ExpiresAt *time.Time // nil for the current secret
}

// ActiveSecrets returns the endpoint's secrets that sign at time now: the
// current one and every rotated one whose grace period has not ended.
func (e *Endpoint) ActiveSecrets(now time.Time) []string {
	keys := make([]string, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		if s.ExpiresAt == nil || s.ExpiresAt.After(now) {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// EventType is a kind of message an application may send, such as
// "invoice.paid".
type EventType struct {
	Name        string
	Description string
	Archived    bool
	Deprecated  bool
	FeatureFlag string          // "" when not set
	Schemas     json.RawMessage // nil when not set
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Message is an event posted once by the user and delivered to every
// matching endpoint of its application.
type Message struct {
	ID        string
	AppID     string
	EventID   string // optional user-chosen id, unique per application; "" when not set
	EventType string
	Channels  []string
	// Payload is the JSON sent as the request body, byte for byte. It is nil
	// once the content has been expunged.
	Payload json.RawMessage
	// PayloadRetentionDays is how long the payload is kept, in days
	// (Svix's payloadRetentionPeriod).
	PayloadRetentionDays int
	// PayloadExpiresAt is when the retention cleaner expunges the payload.
	// Zero on create means PayloadRetentionDays days of RetentionDay after
	// CreatedAt (see PayloadExpiry); stores keep the time they used.
	PayloadExpiresAt time.Time
	// DeliverAt, when set, is the earliest time the message's first
	// attempts may be made (Svix's deliverAt); a time not after CreatedAt
	// means at once. See DueAt.
	DeliverAt *time.Time
	CreatedAt time.Time
}

// RetentionDay is the length of one day of PayloadRetentionDays.
const RetentionDay = 24 * time.Hour

// MaxDeliverAtDelay bounds how far after its creation a message may be
// scheduled (Message.DeliverAt).
const MaxDeliverAtDelay = 90 * RetentionDay

// DueAt returns when the message's first attempts are due: DeliverAt when
// it is set and later than CreatedAt, else CreatedAt.
func (m *Message) DueAt() time.Time {
	if m.DeliverAt != nil && m.DeliverAt.After(m.CreatedAt) {
		return *m.DeliverAt
	}
	return m.CreatedAt
}

// PayloadExpiry returns when the payload is due to be expunged:
// PayloadExpiresAt when set, else PayloadRetentionDays days of
// RetentionDay after CreatedAt.
func (m *Message) PayloadExpiry() time.Time {
	if !m.PayloadExpiresAt.IsZero() {
		return m.PayloadExpiresAt
	}
	return m.CreatedAt.Add(time.Duration(m.PayloadRetentionDays) * RetentionDay)
}

// MessageStatus is the state of a delivery or the outcome of an attempt,
// with the numbers of the Svix API.
type MessageStatus int

// Message statuses as numbered by the Svix API.
const (
	StatusSuccess  MessageStatus = 0
	StatusPending  MessageStatus = 1
	StatusFail     MessageStatus = 2
	StatusSending  MessageStatus = 3
	StatusCanceled MessageStatus = 4
)

// String returns the Svix statusText of s.
func (s MessageStatus) String() string {
	switch s {
	case StatusSuccess:
		return "success"
	case StatusPending:
		return "pending"
	case StatusFail:
		return "fail"
	case StatusSending:
		return "sending"
	case StatusCanceled:
		return "canceled"
	}
	return "unknown"
}

// TriggerType says why an attempt was made.
type TriggerType int

// Trigger types as numbered by the Svix API.
const (
	TriggerScheduled TriggerType = 0
	TriggerManual    TriggerType = 1
)

// Delivery is the queue row of one message to one endpoint: its state, how
// many attempts its current schedule has made and when the next one is due.
type Delivery struct {
	ID         string
	AppID      string
	MsgID      string
	EndpointID string
	Status     MessageStatus // pending, sending, success or fail
	// Attempts counts the attempts made since the delivery was (re)queued;
	// it indexes the retry schedule.
	Attempts int
	// NextAttemptAt is when the delivery is due; meaningful while pending.
	NextAttemptAt time.Time
	// LeaseUntil is when a claim on a sending delivery runs out.
	LeaseUntil time.Time
	// Trigger is the trigger of the next attempt.
	Trigger   TriggerType
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Attempt is the record of one HTTP request made for a delivery.
type Attempt struct {
	ID         string
	DeliveryID string
	AppID      string
	MsgID      string
	EndpointID string
	URL        string
	Status     MessageStatus // StatusSuccess or StatusFail
	// ResponseStatusCode is the HTTP status, or 0 when no response came
	// (network error, timeout, blocked destination).
	ResponseStatusCode int
	// Response is the start of the response body, or the reason for the
	// failure when there was no response, when the response was cut short
	// (its status code is kept; the attempt failed) or when it redirected.
	// "" once expunged.
	Response           string
	ResponseDurationMs int64
	Trigger            TriggerType
	CreatedAt          time.Time
}

// DeliveryJob is a claimed delivery with what the sender needs to make the
// attempt.
type DeliveryJob struct {
	Delivery Delivery
	Message  Message
	Endpoint Endpoint
	// NotBefore, when set, is the earliest the attempt may start: a shared
	// store paces a throttled endpoint's attempts across every process
	// (ClaimParams.Node).
	NotBefore time.Time
}

// EndpointMessage is a message as seen from one endpoint: the message and
// the state of its delivery there.
type EndpointMessage struct {
	Message       Message
	Status        MessageStatus
	NextAttemptAt *time.Time
}

// MessageEndpoint is an endpoint as seen from one message: the endpoint and
// the state of the message's delivery to it.
type MessageEndpoint struct {
	Endpoint      Endpoint
	Status        MessageStatus
	NextAttemptAt *time.Time
}

// EndpointStats counts an endpoint's deliveries by state.
type EndpointStats struct {
	Success, Pending, Fail, Sending, Canceled int
}

// Token is a stored bearer credential. Only a hash of the secret is kept.
type Token struct {
	ID        string
	Hash      string // hex SHA-256 of the bearer token
	AppID     string // "" for a token with full access
	Name      string // label given when an admin token is created; "" for others
	Prefix    string // the first characters of the secret, to tell tokens apart
	ReadOnly  bool   // an app-portal token that may only read
	ExpiresAt *time.Time
	CreatedAt time.Time
}

// IdempotentResponse is a response kept for an idempotency key, so that a
// repeated request gets the same answer.
type IdempotentResponse struct {
	Key        string // hash of credentials, idempotency-key and URI
	StatusCode int
	Body       []byte
	ExpiresAt  time.Time
}

// Background task kinds, as named by the Svix API where it has them.
const (
	// TaskEndpointRecover queues again an endpoint's failed deliveries.
	TaskEndpointRecover = "endpoint.recover"
	// TaskEndpointReplay creates deliveries to an endpoint for the
	// messages it never received (replay-missing).
	TaskEndpointReplay = "endpoint.replay"
	// TaskEndpointBulkReplay queues again an endpoint's deliveries that
	// match a filter on status, event type and channel.
	TaskEndpointBulkReplay = "endpoint.bulk_replay"
)

// Background task statuses.
const (
	TaskRunning  = "running"
	TaskFinished = "finished"
	TaskFailed   = "failed"
)

// Task is a background task, such as an endpoint recovery or replay. It
// walks the messages of its application in ID order, one bounded batch at
// a time (TaskStore.TaskStep); Cursor, Scanned and Queued are its progress,
// written in the same transaction as each batch, so that a task left
// running by a process that stopped resumes where it was.
type Task struct {
	ID     string
	AppID  string // the application it works on; "" for none
	Kind   string // one of the Task* kinds, e.g. "endpoint.recover"
	Status string // TaskRunning, TaskFinished or TaskFailed
	Params TaskParams
	// Cursor is the ID of the last message examined; "" before the first
	// batch.
	Cursor string
	// Scanned counts the messages examined so far.
	Scanned int
	// Queued counts the deliveries queued so far.
	Queued int
	// Skipped counts the messages the task would have sent but could not,
	// for SkipPayloadExpunged: their payload was expunged.
	Skipped int
	// Error says why a failed task failed.
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TaskParams says what a replay or recovery task works on: the messages of
// the task's application created in [Since, Until) and their deliveries
// to EndpointID. Status, EventTypes and Channel narrow a bulk replay.
type TaskParams struct {
	EndpointID string         `json:"endpointId,omitempty"`
	Since      time.Time      `json:"since,omitzero"`
	Until      time.Time      `json:"until,omitzero"`
	Status     *MessageStatus `json:"status,omitempty"`
	EventTypes []string       `json:"eventTypes,omitempty"`
	Channel    string         `json:"channel,omitempty"`
}
