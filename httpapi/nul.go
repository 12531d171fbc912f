package httpapi

import (
	"reflect"
	"strings"
)

// findNUL returns the location (as a 422's loc) of the first string in the
// decoded request v that holds U+0000, or nil. JSON can carry the
// character (as \u0000) but text columns cannot, on PostgreSQL at least,
// so such a value is refused up front on every store. Raw JSON (the
// payload) is kept as sent, escaped, and is not looked into.
func findNUL(v reflect.Value, loc []string) []string {
	switch v.Kind() {
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return loc
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findNUL(v.Elem(), loc)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := loc
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
				name = append(append([]string{}, loc...), tag)
			}
			if l := findNUL(v.Field(i), name); l != nil {
				return l
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // raw JSON or bytes, not text
		}
		for i := 0; i < v.Len(); i++ {
			if l := findNUL(v.Index(i), loc); l != nil {
				return l
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if l := findNUL(iter.Key(), loc); l != nil {
				return l
			}
			if l := findNUL(iter.Value(), loc); l != nil {
				return l
			}
		}
	}
	return nil
}
