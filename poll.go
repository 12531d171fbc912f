package herald

import (
	"context"
	"time"
)

// PollPosition is a place in an application's stream of messages. The
// stream is ordered by (Seq, MsgID): Seq is given by the store when the
// message commits and never decreases along the order in which messages
// become readable (see the polling-order ADR in docs/adr), so a reader that
// resumes after a position sees every message it has not read yet. The
// zero position is before every message.
type PollPosition struct {
	Seq   int64
	MsgID string
}

// Less reports whether p comes before q in the stream.
func (p PollPosition) Less(q PollPosition) bool {
	return p.Seq < q.Seq || p.Seq == q.Seq && p.MsgID < q.MsgID
}

// PollParams selects one page of an application's message stream.
type PollParams struct {
	// After is the position to read after.
	After PollPosition
	// Limit is the most messages to return, 1..MaxListLimit.
	Limit int
	// EventTypes and Channels are the sink's filters, as for
	// EndpointMatches (its Disabled flag aside): a message is kept when
	// EventTypes is empty or holds its type, and Channels is empty or
	// shares a channel with it.
	EventTypes []string
	Channels   []string
	// EventType and Channel, when set, narrow further: the message has
	// this type; the message has this channel.
	EventType string
	Channel   string
}

// PollPage is one page of the stream.
type PollPage struct {
	// Messages are the kept messages after the position, in stream order.
	Messages []Message
	// Next is the position to read after next: past every message read,
	// kept or not, so that a filtered reader does not read the same
	// messages again; After when nothing was read.
	Next PollPosition
	// Done reports that no more messages are readable now.
	Done bool
}

// PollConsumer is the stored position of one reader of a sink: an
// application's endpoint read by polling instead of (or as well as) by
// pushes.
type PollConsumer struct {
	AppID      string
	EndpointID string
	ConsumerID string
	Position   PollPosition
	UpdatedAt  time.Time
}

// PollStore reads an application's messages in the order they became
// readable, and keeps the positions of named readers.
type PollStore interface {
	// MessagePoll returns the application's messages after p.After that
	// match p's filters, in stream order. ENotFound if the application
	// does not exist.
	MessagePoll(ctx context.Context, appID string, p PollParams) (PollPage, error)
	// MessagePollSeek returns the position from which reading returns every
	// message of the application created at t or later (and maybe a few
	// created just before), including those that commit later.
	MessagePollSeek(ctx context.Context, appID string, t time.Time) (PollPosition, error)
	// PollConsumerGet returns the stored consumer of the endpoint;
	// ENotFound if none.
	PollConsumerGet(ctx context.Context, appID, endpointID, consumerID string) (*PollConsumer, error)
	// PollConsumerSet stores c, replacing its position. ENotFound if its
	// endpoint does not exist in its application.
	PollConsumerSet(ctx context.Context, c *PollConsumer) error
}

// PolledMessage is a message read by a poll, with its stream position.
type PolledMessage struct {
	Message Message
	Seq     int64
}

// NewPollPage makes the page from rows read in stream order with a limit
// of limit+1, up to head: Next is the last message returned when more
// follow, else head.
func NewPollPage(rows []PolledMessage, limit int, head PollPosition) PollPage {
	page := PollPage{Next: head, Done: len(rows) <= limit}
	if !page.Done {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		page.Next = PollPosition{Seq: last.Seq, MsgID: last.Message.ID}
	}
	page.Messages = make([]Message, len(rows))
	for i := range rows {
		page.Messages[i] = rows[i].Message
	}
	return page
}
