package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/herald-webhooks/herald"
)

// errTimedOut answers a request whose deadline passed before a store
// call it made returned, whatever the store made of it.
var errTimedOut = herald.Errorf(herald.EUnavailable, "The request took too long; try again")

// statusClientClosed answers a request whose client went away.
const statusClientClosed = 499

// errorMapping is how one domain error code is shown to clients.
type errorMapping struct {
	status int
	code   string // the Svix error code
}

// errorTable maps domain codes to HTTP statuses and Svix error codes.
var errorTable = map[string]errorMapping{
	herald.EInvalid:      {http.StatusBadRequest, "generic_error"},
	herald.ENotFound:     {http.StatusNotFound, "not_found"},
	herald.EConflict:     {http.StatusConflict, "conflict"},
	herald.EUnauthorized: {http.StatusUnauthorized, "authentication_failed"},
	herald.EForbidden:    {http.StatusForbidden, "insufficient access"},
	herald.ERateLimited:  {http.StatusTooManyRequests, "rate_limited"},
	herald.EUnavailable:  {http.StatusServiceUnavailable, "service_unavailable"},
	herald.EInternal:     {http.StatusInternalServerError, "server_error"},
}

// httpErrorOut is Svix's error body.
type httpErrorOut struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// validationItem is one entry of a 422 body.
type validationItem struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// validationOut is Svix's 422 body.
type validationOut struct {
	Detail []validationItem `json:"detail"`
}

// writeError answers with err in Svix's format: a 422 list for validation
// errors with field problems, {code, detail} otherwise. Internal errors are
// logged and answered without detail.
func writeError(w http.ResponseWriter, err error, log *slog.Logger) {
	if errors.Is(err, errPayloadTooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, httpErrorOut{Code: "payload_too_large", Detail: "The request body is too large."})
		return
	}
	var he *herald.Error
	if errors.As(err, &he) && he.Code == herald.EInvalid && len(he.Fields) > 0 {
		out := validationOut{Detail: make([]validationItem, len(he.Fields))}
		for i, f := range he.Fields {
			out.Detail[i] = validationItem{Loc: f.Loc, Msg: f.Msg, Type: "value_error"}
		}
		writeJSON(w, http.StatusUnprocessableEntity, out)
		return
	}
	if herald.ErrorCode(err) == herald.EInternal && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", errTimedOut, err) // the request's deadline (Config.Timeout) passed
	}
	code := herald.ErrorCode(err)
	m, ok := errorTable[code]
	if !ok {
		m = errorTable[herald.EInternal]
	}
	detail := herald.ErrorMessage(err)
	if code == herald.EInternal && errors.Is(err, context.Canceled) {
		// The client went away: nobody reads the answer, and nothing is
		// wrong. 499 (as nginx logs it), so that it counts as neither a
		// server error nor an unavailable store.
		log.Debug("request cancelled by the client", "err", err)
		m, detail = errorMapping{statusClientClosed, "client_closed_request"}, "The request was cancelled."
	} else if code == herald.EInternal {
		log.Error("internal error", "err", err)
		detail = "Internal server error."
	}
	writeJSON(w, m.status, httpErrorOut{Code: m.code, Detail: detail})
}

// writeJSON answers with status and v as JSON; a 503 or 429 also gets
// Retry-After.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"server_error","detail":"Internal server error."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	setRetryAfter(w, status)
	w.WriteHeader(status)
	w.Write(b)
}

// writeNoContent answers 204.
func writeNoContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// problems collects validation problems for one request.
type problems []herald.FieldProblem

// add records that the field at loc is wrong.
func (p *problems) add(msg string, loc ...string) {
	*p = append(*p, herald.FieldProblem{Loc: loc, Msg: msg})
}

// err returns the 422 error, or nil when there are no problems.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &herald.Error{Code: herald.EInvalid, Message: "Validation failed", Fields: p}
}
