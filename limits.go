package herald

import "bytes"

// Limits on what API clients may send, beyond the request body size (a
// setting). Each bounds the work or storage one request can cause; going
// over one is a 4xx naming it, never a slow request or a 500.
const (
	// MaxJSONDepth is how deeply arrays and objects may nest in a request
	// body, payload included.
	MaxJSONDepth = 64
	// MaxEventTypesPerEndpoint bounds an endpoint's eventTypes (filterTypes)
	// list.
	MaxEventTypesPerEndpoint = 1000
	// MaxEndpointHeaders bounds the custom headers of one endpoint, and
	// MaxEndpointHeaderBytes the length of one header's name plus value.
	MaxEndpointHeaders     = 50
	MaxEndpointHeaderBytes = 4096
	// MaxMetadataEntries bounds an application's or endpoint's metadata,
	// and MaxMetadataBytes the length of one key plus value.
	MaxMetadataEntries = 50
	MaxMetadataBytes   = 4096
	// MaxDescriptionLength bounds descriptions and names.
	MaxDescriptionLength = 4096
	// MaxURLLength bounds a request's path and query, and MaxQueryValues
	// the number of query parameter values.
	MaxURLLength   = 8192
	MaxQueryValues = 64
)

// DefaultMaxEndpointsPerApp is how many endpoints one application may
// have unless configured otherwise.
const DefaultMaxEndpointsPerApp = 100

// ErrTooManyEndpoints is the error of creating an endpoint in an
// application that already has max.
func ErrTooManyEndpoints(max int) error {
	return Errorf(EInvalid, "The application already has the maximum of %d endpoints.", max)
}

// JSONDepthWithin reports whether the arrays and objects of the JSON text
// b nest no deeper than max. It looks only at brackets outside strings, so
// it is linear in len(b) and needs no memory; b need not be valid JSON.
func JSONDepthWithin(b []byte, max int) bool {
	if bytes.Count(b, []byte{'['})+bytes.Count(b, []byte{'{'}) <= max {
		return true // too few brackets to nest deeper (counted fast)
	}
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return false
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return true
}
