package herald_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-webhooks/herald"
)

func TestJSONDepthWithin(t *testing.T) {
	for _, c := range []struct {
		json string
		max  int
		want bool
	}{
		{`{}`, 1, true},
		{`{"a":[1,{"b":2}]}`, 3, true},
		{`{"a":[1,{"b":2}]}`, 2, false},
		{`{"a":"[[[[[[[["}`, 1, true},       // brackets in strings do not count
		{`{"a":"\"[[[[","b":{}}`, 2, true},  // nor after an escaped quote
		{`{"a":"\\","b":[[[]]]}`, 3, false}, // an escaped backslash ends the escape
		{strings.Repeat("[", 64) + strings.Repeat("]", 64), 64, true},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), 64, false},
		{`]]]]{`, 1, true}, // not JSON: decoding reports it
	} {
		if got := herald.JSONDepthWithin([]byte(c.json), c.max); got != c.want {
			t.Errorf("JSONDepthWithin(%s, %d) = %v, want %v", c.json, c.max, got, c.want)
		}
	}
}

// FuzzJSONDepthWithin checks the scanner against encoding/json: for valid
// JSON, the depth it accepts is the depth json.Decoder measures.
func FuzzJSONDepthWithin(f *testing.F) {
	for _, s := range []string{`{}`, `[[1,[2]],{"a":{"b":"]"}}]`, `"\\\"["`, `{"a":"\u005b"}`, `[` + strings.Repeat(`{"x":[`, 10) + `]}]`} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 || max > 100 {
			return
		}
		got := herald.JSONDepthWithin(b, max)
		if !json.Valid(b) {
			return
		}
		if want := jsonDepth(b) <= max; got != want {
			t.Fatalf("JSONDepthWithin(%q, %d) = %v, json depth %d", b, max, got, jsonDepth(b))
		}
	})
}

// jsonDepth measures valid JSON's nesting with encoding/json's tokenizer.
func jsonDepth(b []byte) int {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
				deepest = max(deepest, depth)
			} else {
				depth--
			}
		}
	}
}
