package httpapi

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-webhooks/herald"
)

// query reads and validates query parameters, collecting problems.
type query struct {
	v    url.Values
	errs problems
}

func newQuery(u *url.URL) *query { return &query{v: u.Query()} }

// listParams reads limit and iterator, and order when ordered (lists of
// applications, endpoints and event types: ascending by default). Other
// lists are newest first.
func (q *query) listParams(ordered bool) herald.ListParams {
	p := herald.ListParams{Limit: herald.DefaultListLimit, Iterator: q.v.Get("iterator")}
	if s := q.v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > herald.MaxListLimit {
			q.errs.add("limit must be a whole number from 1 to 250", "query", "limit")
		} else {
			p.Limit = n
		}
	}
	if ordered {
		switch q.v.Get("order") {
		case "", "ascending":
			p.Ascending = true
		case "descending":
		default:
			q.errs.add("order must be 'ascending' or 'descending'", "query", "order")
		}
	}
	return p
}

// boolean reads a true/false parameter.
func (q *query) boolean(name string, def bool) bool {
	switch s := q.v.Get(name); s {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	default:
		q.errs.add(name+" must be true or false", "query", name)
		return def
	}
}

// time reads an RFC 3339 parameter; nil when absent.
func (q *query) time(name string) *time.Time {
	s := q.v.Get(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.errs.add(name+" must be an RFC 3339 date-time", "query", name)
		return nil
	}
	return &t
}

// list reads a list given comma-joined or as repeated parameters.
func (q *query) list(name string) []string {
	var out []string
	for _, v := range q.v[name] {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return append(out, q.v[name+"[]"]...)
}

// status reads a message status filter (0..4).
func (q *query) status(name string) *herald.MessageStatus {
	s := q.v.Get(name)
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 4 {
		q.errs.add(name+" must be 0, 1, 2, 3 or 4", "query", name)
		return nil
	}
	st := herald.MessageStatus(n)
	return &st
}

// statusCodeClass reads the status_code_class filter.
func (q *query) statusCodeClass() *int {
	s := q.v.Get("status_code_class")
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || (n != 0 && n != 100 && n != 200 && n != 300 && n != 400 && n != 500) {
		q.errs.add("status_code_class must be 0, 100, 200, 300, 400 or 500", "query", "status_code_class")
		return nil
	}
	return &n
}

// messageFilter reads event_types, channel, before and after.
func (q *query) messageFilter() herald.MessageFilter {
	f := herald.MessageFilter{EventTypes: q.list("event_types"), Channel: q.v.Get("channel")}
	f.Before = q.time("before")
	f.After = q.time("after")
	for _, et := range f.EventTypes {
		if !herald.ValidEventTypeName(et) {
			q.errs.add("invalid event type name", "query", "event_types")
		}
	}
	return f
}
