package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/herald-webhooks/herald"
)

// decode reads the request body as JSON into v. A body that is not JSON is
// a 400; a field of the wrong type is a 422 naming the field; a body over
// the limit is a 413. An empty body decodes as {} when allowEmpty.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errPayloadTooLarge
		}
		return herald.Errorf(herald.EInvalid, "Could not read the request body.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			body = []byte("{}")
		} else {
			return herald.Errorf(herald.EInvalid, "A JSON request body is required.")
		}
	}
	if !herald.JSONDepthWithin(body, herald.MaxJSONDepth) {
		p := problems{}
		p.add(fmt.Sprintf("the body nests arrays and objects deeper than %d levels", herald.MaxJSONDepth), "body")
		return p.err()
	}
	if err := json.Unmarshal(body, v); err != nil { // it checks the whole body is JSON first
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			return herald.Errorf(herald.EInvalid, "The request body is not valid JSON.")
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			loc := append([]string{"body"}, strings.Split(typeErr.Field, ".")...)
			if typeErr.Field == "" {
				loc = []string{"body"}
			}
			p := problems{}
			p.add("value is not a valid "+jsonTypeName(typeErr.Type.Kind().String()), loc...)
			return p.err()
		}
		return herald.Errorf(herald.EInvalid, "The request body does not match the expected shape.")
	}
	// JSON can carry U+0000 only as the escape \u0000: without it in the
	// body, no decoded string holds one, and the walk is skipped.
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	if loc := findNUL(reflect.ValueOf(v), []string{"body"}); loc != nil {
		p := problems{}
		p.add("text must not contain the NUL character (\\u0000)", loc...)
		return p.err()
	}
	return nil
}

// errPayloadTooLarge is answered as 413 payload_too_large.
var errPayloadTooLarge = errors.New("payload too large")

func jsonTypeName(kind string) string {
	switch kind {
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "list"
	case "int", "int64", "int32", "uint16", "uint32", "uint64", "float64":
		return "integer"
	case "bool":
		return "boolean"
	}
	return kind
}

// opt is a JSON field that remembers whether it was present and whether it
// was null, for PATCH bodies and nullable fields.
type opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	if raw, ok := any(&o.V).(*json.RawMessage); ok {
		// Already checked as JSON by the decoder: keep the bytes as sent.
		*raw = append(json.RawMessage(nil), b...)
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// value returns the value when present and not null.
func (o opt[T]) value() (T, bool) { return o.V, o.Set && !o.Null }
