package herald

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to a status and a Svix error body in
// one table; stores and the engine return them through *Error.
const (
	EInvalid      = "invalid"      // the request is malformed or fails validation
	ENotFound     = "not_found"    // the object does not exist
	EConflict     = "conflict"     // a unique field (uid, eventId, name) is taken
	EUnauthorized = "unauthorized" // no or wrong credentials
	EForbidden    = "forbidden"    // credentials valid, access not allowed
	ERateLimited  = "rate_limited" // too many requests
	EUnavailable  = "unavailable"  // the store cannot take the request now
	EInternal     = "internal"     // a bug or an unexpected failure
)

// Error is Herald's domain error: a code from the list above and a message
// safe to show to API clients. Field names problems for validation errors.
type Error struct {
	Code    string
	Message string
	// Fields lists per-field problems of an EInvalid error, if any.
	Fields []FieldProblem
}

// FieldProblem is one validation failure: Loc is the path to the field
// (for example ["body", "url"]), Msg says what is wrong.
type FieldProblem struct {
	Loc []string
	Msg string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("herald error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain, or a generic text for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal server error."
}

// IsNotFound reports whether err carries ENotFound.
func IsNotFound(err error) bool { return ErrorCode(err) == ENotFound }

// IsConflict reports whether err carries EConflict.
func IsConflict(err error) bool { return ErrorCode(err) == EConflict }
