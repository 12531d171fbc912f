package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

// A sink is an endpoint of the application ({sink_id}: its id or uid) read
// by polling: the poller returns the application's messages that the
// endpoint's event type and channel filters let through, whether or not
// they were pushed to it (and whether or not it is disabled), in the order
// the store made them readable (herald.PollPosition).

// pollOut is Svix's PollingEndpointOut.
type pollOut struct {
	Data     []messageOut `json:"data"`
	Iterator string       `json:"iterator"`
	Done     bool         `json:"done"`
}

// seekIn is Svix's PollingEndpointConsumerSeekIn.
type seekIn struct {
	After opt[time.Time] `json:"after"`
}

func (in *seekIn) validate(p *problems) {
	if _, ok := in.After.value(); !ok {
		p.add("after must be an RFC 3339 date-time", "body", "after")
	}
}

// seekOut is Svix's PollingEndpointConsumerSeekOut.
type seekOut struct {
	Iterator string `json:"iterator"`
}

// encodeIterator renders a stream position as an opaque iterator.
func encodeIterator(p herald.PollPosition) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.Seq, 10) + "." + p.MsgID))
}

// decodeIterator parses an iterator made by encodeIterator.
func decodeIterator(s string) (herald.PollPosition, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return herald.PollPosition{}, false
	}
	seq, id, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 0 {
		return herald.PollPosition{}, false
	}
	return herald.PollPosition{Seq: n, MsgID: id}, true
}

// pollIterator reads the iterator parameter; false when absent.
func (q *query) pollIterator() (herald.PollPosition, bool) {
	s := q.v.Get("iterator")
	if s == "" {
		return herald.PollPosition{}, false
	}
	pos, ok := decodeIterator(s)
	if !ok {
		q.errs.add("iterator is not one this server returned", "query", "iterator")
	}
	return pos, ok
}

// sink resolves {app_id} then {sink_id} (an endpoint's id or uid).
func (s *server) sink(r *http.Request) (*herald.Application, *herald.Endpoint, error) {
	app, err := s.app(r)
	if err != nil {
		return nil, nil, err
	}
	ep, err := s.store.EndpointGet(r.Context(), app.ID, r.PathValue("sink_id"))
	return app, ep, err
}

// sinkStart is where reading a sink starts without an iterator: with the
// messages created since the endpoint was, or after `after` when given.
func (s *server) sinkStart(r *http.Request, app *herald.Application, ep *herald.Endpoint, after *time.Time) (herald.PollPosition, error) {
	t := ep.CreatedAt
	if after != nil {
		t = afterTime(*after)
	}
	return s.store.MessagePollSeek(r.Context(), app.ID, t)
}

// afterTime turns an `after` bound into the first creation time it admits.
// The API shows times to the microsecond, so messages created within the
// microsecond of after (its own timestamp, say) are not after it.
func afterTime(after time.Time) time.Time {
	return after.Truncate(time.Microsecond).Add(time.Microsecond)
}

// pollSink reads one page of the sink after pos.
func (s *server) pollSink(r *http.Request, app *herald.Application, ep *herald.Endpoint, p herald.PollParams) (pollOut, herald.PollPosition, error) {
	p.EventTypes, p.Channels = ep.EventTypes, ep.Channels
	page, err := s.store.MessagePoll(r.Context(), app.ID, p)
	if err != nil {
		return pollOut{}, p.After, err
	}
	out := pollOut{Data: make([]messageOut, len(page.Messages)), Iterator: encodeIterator(page.Next), Done: page.Done}
	for i := range page.Messages {
		out.Data[i] = toMessage(&page.Messages[i], true)
	}
	return out, page.Next, nil
}

// poll is GET /api/v1/app/{app_id}/poller/{sink_id}: one page of the sink,
// from the iterator, else from `after`, else from the endpoint's creation.
func (s *server) poll(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := herald.PollParams{Limit: q.listParams(false).Limit, EventType: q.v.Get("event_type"), Channel: q.v.Get("channel")}
	pos, fromIterator := q.pollIterator()
	after := q.time("after")
	if p.EventType != "" && !herald.ValidEventTypeName(p.EventType) {
		q.errs.add("invalid event type name", "query", "event_type")
	}
	if p.Channel != "" && !herald.ValidChannel(p.Channel) {
		q.errs.add("invalid channel", "query", "channel")
	}
	app, ep, err := s.sink(r)
	if err == nil {
		err = q.errs.err()
	}
	if err == nil && !fromIterator {
		pos, err = s.sinkStart(r, app, ep, after)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	p.After = pos
	out, _, err := s.pollSink(r, app, ep, p)
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// consumer resolves the sink and checks {consumer_id}.
func (s *server) consumer(r *http.Request, q *query) (*herald.Application, *herald.Endpoint, string, error) {
	id := r.PathValue("consumer_id")
	if !herald.ValidUID(id) {
		q.errs.add("consumer_id must be 1 to 256 of a-z A-Z 0-9 - _ .", "path", "consumer_id")
	}
	app, ep, err := s.sink(r)
	if err == nil {
		err = q.errs.err()
	}
	return app, ep, id, err
}

// consumerPoll is GET .../poller/{sink_id}/consumer/{consumer_id}: one page
// from the consumer's stored position (or the iterator given, or the
// endpoint's creation for a new consumer); the consumer's position then
// moves past the page.
func (s *server) consumerPoll(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	p := herald.PollParams{Limit: q.listParams(false).Limit}
	pos, fromIterator := q.pollIterator()
	app, ep, id, err := s.consumer(r, q)
	if err == nil && !fromIterator {
		pos, err = s.consumerPosition(r, app, ep, id)
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	p.After = pos
	out, next, err := s.pollSink(r, app, ep, p)
	if err == nil {
		err = s.store.PollConsumerSet(r.Context(), &herald.PollConsumer{AppID: app.ID, EndpointID: ep.ID, ConsumerID: id,
			Position: next, UpdatedAt: s.cfg.Now()})
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// consumerPosition returns the consumer's stored position, or the start
// of the sink for a consumer never seen.
func (s *server) consumerPosition(r *http.Request, app *herald.Application, ep *herald.Endpoint, id string) (herald.PollPosition, error) {
	c, err := s.store.PollConsumerGet(r.Context(), app.ID, ep.ID, id)
	if herald.IsNotFound(err) {
		return s.sinkStart(r, app, ep, nil)
	}
	if err != nil {
		return herald.PollPosition{}, err
	}
	return c.Position, nil
}

// consumerSeek is POST .../consumer/{consumer_id}/seek: the consumer's
// position moves to the messages created after `after` (back or forth).
func (s *server) consumerSeek(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r.URL)
	var in seekIn
	err := s.decodeValid(w, r, &in, nil, in.validate)
	var app *herald.Application
	var ep *herald.Endpoint
	var id string
	if err == nil {
		app, ep, id, err = s.consumer(r, q)
	}
	var pos herald.PollPosition
	if err == nil {
		pos, err = s.store.MessagePollSeek(r.Context(), app.ID, afterTime(in.After.V))
	}
	if err == nil {
		err = s.store.PollConsumerSet(r.Context(), &herald.PollConsumer{AppID: app.ID, EndpointID: ep.ID, ConsumerID: id,
			Position: pos, UpdatedAt: s.cfg.Now()})
	}
	if err != nil {
		writeError(w, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, seekOut{Iterator: encodeIterator(pos)})
}
