package herald

import (
	"context"
	"time"
)

// Store is everything Herald keeps: the API's objects, the delivery queue,
// attempts, tokens and idempotency records. Every backend (embedded SQLite,
// PostgreSQL) implements it and passes the storetest conformance suite.
//
// Errors are *Error values with ENotFound for unknown objects, EConflict for a
// taken unique field and EUnavailable when the database cannot be reached;
// other failures may be plain errors. Writes are durable when they return.
// Lookups named "by key" accept the object's ID or its user-chosen alias
// (uid, eventId) within its parent.
type Store interface {
	ApplicationStore
	EndpointStore
	EventTypeStore
	MessageStore
	DeliveryStore
	AttemptStore
	AuthStore
	LeaderStore
	PollStore
	StatsStore
	HealthStore
	RetentionStore
	SecretStore
	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store; pending writes are flushed first.
	Close() error
}

// ApplicationStore keeps applications.
type ApplicationStore interface {
	// ApplicationCreate stores a new application (ID and times set by the
	// caller). EConflict if its UID is taken.
	ApplicationCreate(ctx context.Context, app *Application) error
	// ApplicationGet returns the application with ID or UID key.
	ApplicationGet(ctx context.Context, key string) (*Application, error)
	// ApplicationUpdate replaces the stored fields of app.ID.
	ApplicationUpdate(ctx context.Context, app *Application) error
	// ApplicationDelete removes the application and everything under it.
	ApplicationDelete(ctx context.Context, id string) error
	// ApplicationList lists applications by ID, leaving out the
	// operational application (OperationalAppUID).
	ApplicationList(ctx context.Context, p ListParams) (Page[Application], error)
}

// EndpointStore keeps endpoints.
type EndpointStore interface {
	// EndpointCreate stores a new endpoint. EConflict if its UID is taken
	// in the application; ENotFound if the application is gone; EInvalid
	// if maxPerApp > 0 and the application already has that many
	// endpoints (exact, also with concurrent creations on several nodes).
	EndpointCreate(ctx context.Context, ep *Endpoint, maxPerApp int) error
	// EndpointGet returns the endpoint with ID or UID key in appID.
	EndpointGet(ctx context.Context, appID, key string) (*Endpoint, error)
	// EndpointUpdate replaces every stored field of ep.ID (including
	// headers, secrets, DisabledAt and DisabledReason). An endpoint that
	// was disabled and is enabled by the update has its health cleared
	// and, in the same transaction, an endpoint.enabled operational event
	// emitted (see OperationalAppUID).
	EndpointUpdate(ctx context.Context, ep *Endpoint) error
	// EndpointDelete removes the endpoint and its pending deliveries.
	EndpointDelete(ctx context.Context, appID, id string) error
	// EndpointList lists an application's endpoints by ID.
	EndpointList(ctx context.Context, appID string, p ListParams) (Page[Endpoint], error)
	// EndpointStats counts the endpoint's deliveries by status, for
	// messages created in [since, until).
	EndpointStats(ctx context.Context, appID, endpointID string, since, until time.Time) (EndpointStats, error)
}

// EventTypeStore keeps event types, which are global (not per application).
type EventTypeStore interface {
	// EventTypeCreate stores a new event type. EConflict if the name exists
	// (archived or not).
	EventTypeCreate(ctx context.Context, et *EventType) error
	// EventTypeGet returns the event type called name.
	EventTypeGet(ctx context.Context, name string) (*EventType, error)
	// EventTypeUpdate replaces the stored fields of et.Name.
	EventTypeUpdate(ctx context.Context, et *EventType) error
	// EventTypeDelete removes the event type called name.
	EventTypeDelete(ctx context.Context, name string) error
	// EventTypeList lists event types by name; archived ones only when
	// includeArchived.
	EventTypeList(ctx context.Context, p ListParams, includeArchived bool) (Page[EventType], error)
}

// MessageFilter narrows message and attempt lists. Zero values do not filter.
type MessageFilter struct {
	EventTypes []string   // message type is one of these
	Channel    string     // message has this channel
	Before     *time.Time // created before
	After      *time.Time // created after
}

// MessageStore keeps messages. Writing a message also fans it out.
type MessageStore interface {
	// MessageCreate stores msg and, in the same transaction, one pending
	// Delivery due at msg.DueAt() for every endpoint of msg.AppID for
	// which EndpointMatches holds; when only is non-nil, for exactly the
	// endpoints of the application whose IDs it lists instead, filters
	// aside (as for a test message sent to one endpoint). It returns those
	// deliveries. A delivery due after msg.CreatedAt (a scheduled message)
	// is never handed to a claim before it is due. The store keeps
	// msg.PayloadExpiry() as the payload's expiry (see RetentionStore).
	// EConflict if msg.EventID is already used in the application;
	// ENotFound if the application is gone.
	MessageCreate(ctx context.Context, msg *Message, only []string) ([]Delivery, error)
	// MessageGet returns the message with ID or EventID key in appID.
	MessageGet(ctx context.Context, appID, key string) (*Message, error)
	// MessageList lists an application's messages, newest first.
	MessageList(ctx context.Context, appID string, f MessageFilter, p ListParams) (Page[Message], error)
	// MessageExpungeContent deletes the message's payload for good. The
	// message can no longer be sent: in the same transaction, its pending
	// deliveries end as failed, without an attempt (a sending one, whose
	// attempt is under way with the payload it read, is left to finish;
	// DeliveryResend, DeliveryRecover and TaskStep leave the message alone
	// from then on).
	MessageExpungeContent(ctx context.Context, appID, msgID string) error
}

// ClaimParams selects due deliveries to claim.
type ClaimParams struct {
	// Now is the current time: pending deliveries with NextAttemptAt <= Now
	// are due.
	Now time.Time
	// Limit is the most deliveries to claim.
	Limit int
	// PerEndpoint is the most deliveries to claim for any one endpoint
	// (0: no bound).
	PerEndpoint int
	// ExcludeEndpoints are endpoint IDs not to claim for (busy or
	// throttled ones).
	ExcludeEndpoints []string
	// LeaseUntil is stored on each claimed delivery.
	LeaseUntil time.Time
	// Node names the claiming process, for a store that several processes
	// claim from (DeliveryShared reports true; others ignore it). An
	// endpoint's deliveries are then claimed by one process at a time, its
	// owner, so that the limits the owner holds in memory (attempts in
	// flight to the endpoint) hold across every process: the claim takes
	// deliveries only of endpoints that no other process owns, or whose
	// owner's last lease has ended, and makes Node their owner until
	// LeaseUntil. The claimed deliveries of an endpoint with a
	// ThrottleRate get NotBefore times spaced 1/rate apart, following on
	// from those given to earlier claims, and none whose turn is more than
	// ThrottleHorizon away is claimed.
	Node string
	// ReleaseEndpoints, with Node, are endpoints that Node owns and has no
	// claimed delivery of any more: other processes may claim them at once
	// (one that found them owned may wait up to ThrottleHorizon before it
	// looks again). Those among the endpoints this claim takes are kept.
	ReleaseEndpoints []string
}

// ThrottleHorizon is how far ahead of its turn a shared store lets a
// delivery of a throttled endpoint be claimed (ClaimParams.Node).
const ThrottleHorizon = time.Second

// DeliveryResult is the outcome of one attempt, to be written by
// DeliveryComplete.
type DeliveryResult struct {
	// Attempt is the record to insert.
	Attempt Attempt
	// Status is the delivery's new status: StatusSuccess, StatusFail (the
	// schedule is spent) or StatusPending (to be tried again).
	Status MessageStatus
	// Attempts is the delivery's new attempt count.
	Attempts int
	// NextAttemptAt is when to try again, for StatusPending.
	NextAttemptAt time.Time
	// NotSent reports that the attempt made no request because the
	// message's payload was expunged (a delivery of such a message is
	// never sent): the attempt records why the delivery ended, and says
	// nothing of the endpoint's health (EndpointHealth.Apply).
	NotSent bool
}

// Requeued returns a copy of r for a delivery that was queued again while
// its attempt ran: the attempt stands, but the delivery stays pending, so
// the result neither finishes nor exhausts it.
func (r *DeliveryResult) Requeued() *DeliveryResult {
	c := *r
	c.Status = StatusPending
	return &c
}

// DeliveryStore is the delivery queue: rows in the same database as the
// messages, claimed under a lease and completed in batches.
type DeliveryStore interface {
	// DeliveryClaim marks up to p.Limit due, pending deliveries as sending
	// with lease p.LeaseUntil, oldest due first, honouring p.PerEndpoint
	// and p.ExcludeEndpoints, and returns them with their message and
	// endpoint. A claimed delivery is not returned again until completed or
	// released by DeliveryRescue.
	DeliveryClaim(ctx context.Context, p ClaimParams) ([]DeliveryJob, error)
	// DeliveryComplete writes the results of attempts: inserts each
	// attempt, updates its delivery and its endpoint's EndpointHealth, and
	// emits the operational events they cause (EndpointHealth.Apply), all
	// in one transaction. A result for a delivery that no longer exists
	// (endpoint deleted) is skipped. A delivery that is no longer sending
	// (queued again by a resend, recover or replay while the attempt ran)
	// keeps its new state: the attempt is recorded as if Requeued.
	DeliveryComplete(ctx context.Context, results []DeliveryResult) error
	// DeliveryRescue returns sending deliveries whose lease ends before
	// leaseBefore to pending, due now, and reports how many. A shared store
	// also ends endpoint ownerships (ClaimParams.Node) that ended before
	// leaseBefore.
	DeliveryRescue(ctx context.Context, leaseBefore, now time.Time) (int, error)
	// DeliveryNextDue returns the earliest NextAttemptAt of a pending
	// delivery, and false when none is pending.
	DeliveryNextDue(ctx context.Context) (time.Time, bool, error)
	// DeliveryResend queues the message for the endpoint again, due now, as
	// a manual attempt with a fresh schedule; it makes the delivery if the
	// message never went to that endpoint. ErrPayloadExpunged (EConflict)
	// if the message's payload was expunged.
	DeliveryResend(ctx context.Context, appID, msgID, endpointID string, now time.Time) error
	// DeliveryRecover queues again, due now with a fresh schedule, every
	// failed delivery to the endpoint of a message created in
	// [since, until) whose payload was not expunged, and reports how many.
	DeliveryRecover(ctx context.Context, appID, endpointID string, since, until, now time.Time) (int, error)
	// DeliveryShared reports whether several processes may claim from the
	// store at once (PostgreSQL). Claims then name their process
	// (ClaimParams.Node), and the store gives each endpoint to one process
	// at a time, so that per-endpoint limits hold across processes.
	DeliveryShared() bool
	// DeliveryNotify returns a channel that receives a value (without
	// blocking the sender; several events may merge into one) whenever new
	// deliveries may have become due through this store.
	DeliveryNotify() <-chan struct{}
}

// AttemptFilter narrows attempt lists. Zero values do not filter.
type AttemptFilter struct {
	MessageFilter
	MsgID      string         // attempts of this message
	EndpointID string         // attempts to this endpoint
	Status     *MessageStatus // attempts with this status
	// StatusCodeClass keeps attempts whose response code is in
	// [class, class+100); 0 keeps those with no response. Nil: any.
	StatusCodeClass *int
}

// AttemptStore reads the record of attempts and of deliveries as seen from
// messages and endpoints.
type AttemptStore interface {
	// AttemptGet returns one attempt of a message.
	AttemptGet(ctx context.Context, appID, msgID, attemptID string) (*Attempt, error)
	// AttemptList lists an application's attempts, newest first.
	AttemptList(ctx context.Context, appID string, f AttemptFilter, p ListParams) (Page[Attempt], error)
	// AttemptExpungeContent deletes an attempt's response body for good.
	AttemptExpungeContent(ctx context.Context, appID, msgID, attemptID string) error
	// EndpointMessageList lists the messages that have a delivery to the
	// endpoint, newest first, with that delivery's status. status, when
	// set, keeps only deliveries in that status.
	EndpointMessageList(ctx context.Context, appID, endpointID string, f MessageFilter, status *MessageStatus, p ListParams) (Page[EndpointMessage], error)
	// MessageEndpointList lists the endpoints the message has a delivery to,
	// by endpoint ID, with that delivery's status.
	MessageEndpointList(ctx context.Context, appID, msgID string, p ListParams) (Page[MessageEndpoint], error)
}

// LeaderStore elects one process at a time, among those sharing a store,
// to run maintenance. A term ends when its holder resigns or at the time it
// last set; times come from the callers' clocks, which must agree to well
// within a term (as for leases).
type LeaderStore interface {
	// LeaderAttempt makes node the leader of name until until, when no
	// one leads, the leader's term ended before now, or node leads already
	// (a renewal), and reports whether node leads.
	LeaderAttempt(ctx context.Context, name, node string, now, until time.Time) (bool, error)
	// LeaderResign ends node's term at once if node leads name, so another
	// node may take over without waiting for the term to end.
	LeaderResign(ctx context.Context, name, node string) error
}

// ExpireParams selects one batch of retention work: rows that expired
// before Before, in order of expiry, after the cursor After.
type ExpireParams struct {
	// Before is the current time: rows whose expiry is before it are
	// expired.
	Before time.Time
	// Limit is the most rows the batch examines (and so changes): one
	// statement's worth, so that a batch holds the writer briefly.
	Limit int
	// After resumes a scan past rows that could not be changed (a
	// message whose deliveries are not done); zero starts at the oldest.
	After ExpireCursor
}

// ExpireCursor is a position in a retention scan: a row's expiry and ID.
type ExpireCursor struct {
	At time.Time
	ID string
}

// ExpireResult is the outcome of one retention batch.
type ExpireResult struct {
	// Changed counts the rows changed (payloads or responses expunged,
	// attempts deleted).
	Changed int
	// Examined counts the expired rows the batch looked at (Changed and
	// those skipped); fewer than Limit means the scan reached its end.
	Examined int
	// Next is the last row examined: After for the next batch.
	Next ExpireCursor
}

// RetentionStore expunges what has outlived its retention period, in
// small batches that use indexes on the expiry (never a scan of a whole
// table), so that a cleaner can run beside delivery without stalling it.
type RetentionStore interface {
	// MessagePayloadExpire expunges the payloads (as MessageExpungeContent
	// does) of messages whose PayloadExpiry is before p.Before, oldest
	// expiry first, examining at most p.Limit messages with a payload
	// after p.After. A message with a pending or sending delivery keeps
	// its payload (it would be sent as {}) and is skipped until its
	// deliveries are done; the message record, its deliveries and its
	// attempts stay.
	MessagePayloadExpire(ctx context.Context, p ExpireParams) (ExpireResult, error)
	// AttemptResponseExpire empties the response bodies (as
	// AttemptExpungeContent does) of up to p.Limit attempts made before
	// p.Before, oldest first; p.After is ignored (every attempt examined
	// is changed). Attempt IDs sort by creation time (see IDAt), which
	// the scan relies on.
	AttemptResponseExpire(ctx context.Context, p ExpireParams) (ExpireResult, error)
	// AttemptDeleteExpired deletes up to p.Limit attempts made before
	// p.Before, oldest first; p.After is ignored.
	AttemptDeleteExpired(ctx context.Context, p ExpireParams) (ExpireResult, error)
	// TaskDeleteExpired deletes up to p.Limit background tasks that are no
	// longer running, created and last updated before p.Before, oldest
	// first; p.After is ignored. Task IDs sort by creation time (see
	// IDAt), which the scan relies on; running tasks are never deleted.
	TaskDeleteExpired(ctx context.Context, p ExpireParams) (ExpireResult, error)
}

// AuthStore keeps tokens, idempotency records and background tasks.
type AuthStore interface {
	// TokenCreate stores a token.
	TokenCreate(ctx context.Context, t *Token) error
	// TokenGetByHash returns the token with this hash; ENotFound if none.
	TokenGetByHash(ctx context.Context, hash string) (*Token, error)
	// TokenGet returns the token with this ID; ENotFound if none.
	TokenGet(ctx context.Context, id string) (*Token, error)
	// TokenListAdmin returns the tokens with full access (no AppID), by
	// ID, oldest first.
	TokenListAdmin(ctx context.Context) ([]Token, error)
	// TokenDelete removes the token with this ID; no error if none.
	TokenDelete(ctx context.Context, id string) error
	// TokenPurgeExpired deletes up to 1000 tokens whose expiry is at or
	// before now and returns how many it deleted.
	TokenPurgeExpired(ctx context.Context, now time.Time) (int, error)
	// IdempotencyGet returns the unexpired response kept for key;
	// ENotFound if none.
	IdempotencyGet(ctx context.Context, key string, now time.Time) (*IdempotentResponse, error)
	// IdempotencyPut keeps a response for r.Key, replacing any other.
	IdempotencyPut(ctx context.Context, r *IdempotentResponse) error
	// IdempotencyPurge deletes responses that expired before now.
	IdempotencyPurge(ctx context.Context, now time.Time) (int, error)
	// TaskCreate stores a background task record. EConflict if its ID is
	// taken.
	TaskCreate(ctx context.Context, t *Task) error
	// TaskGet returns the task with this ID; ENotFound if none.
	TaskGet(ctx context.Context, id string) (*Task, error)
	// TaskList lists tasks by ID (newest first unless p.Ascending).
	TaskList(ctx context.Context, f TaskFilter, p ListParams) (Page[Task], error)
	// TaskStep runs one batch of the running task id: it examines up to
	// limit messages of the task's application after its Cursor, in ID
	// order, and for those created in [Since, Until) queues deliveries to
	// Params.EndpointID, due now, as manual attempts with a fresh
	// schedule, according to its Kind:
	//   - TaskEndpointReplay: a new delivery for each message that has
	//     none to the endpoint and passes its filters
	//     (EndpointFilterMatches, so whether it is disabled or not);
	//   - TaskEndpointBulkReplay: the existing delivery of each message
	//     whose status is Params.Status (any but pending or sending when
	//     nil), whose event type is among Params.EventTypes (when set) and
	//     that has Params.Channel (when set);
	//   - TaskEndpointRecover: as a bulk replay of failed deliveries.
	// A message whose payload was expunged is never queued: those the
	// task would have queued (Task.Skips) are counted in Skipped.
	// In the same transaction it advances the task's Cursor, Scanned,
	// Queued and Skipped, and finishes it once no message is left; a task whose
	// endpoint is gone, or of an unknown kind, fails with Error set. It
	// returns the task as written. ENotFound if no task has this ID; a
	// task that is not running is returned unchanged.
	TaskStep(ctx context.Context, id string, limit int, now time.Time) (*Task, error)
}

// TaskFilter narrows task lists. Zero values do not filter.
type TaskFilter struct {
	AppID  string // tasks of this application
	Status string // tasks in this status
	Kind   string // tasks of this kind
}
