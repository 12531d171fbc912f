package herald

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestNewIDShapeAndOrder(t *testing.T) {
	shape := regexp.MustCompile(`^msg_[0-9A-Za-z]{27}$`)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewID(PrefixMessage, base.Add(time.Duration(i)*time.Microsecond))
		if !shape.MatchString(id) {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if id <= prev {
			t.Fatalf("id %q made later sorts before %q", id, prev)
		}
		prev = id
	}
	a, b := NewID(PrefixApplication, base), NewID(PrefixApplication, base)
	if a == b {
		t.Fatal("two ids at the same instant are equal")
	}
	if lo := IDAt(PrefixApplication, base); lo > a || lo > b {
		t.Errorf("IDAt(%v) = %q sorts after ids made then (%q, %q)", base, lo, a, b)
	}
}

func TestEndpointMatches(t *testing.T) {
	tests := []struct {
		name     string
		ep       Endpoint
		typ      string
		channels []string
		want     bool
	}{
		{"no filters", Endpoint{}, "a", nil, true},
		{"disabled", Endpoint{Disabled: true}, "a", nil, false},
		{"type listed", Endpoint{EventTypes: []string{"a", "b"}}, "b", nil, true},
		{"type not listed", Endpoint{EventTypes: []string{"a"}}, "c", nil, false},
		{"channel shared", Endpoint{Channels: []string{"x", "y"}}, "a", []string{"z", "y"}, true},
		{"channel not shared", Endpoint{Channels: []string{"x"}}, "a", []string{"z"}, false},
		{"endpoint channels, message none", Endpoint{Channels: []string{"x"}}, "a", nil, false},
		{"message channels, endpoint none", Endpoint{}, "a", []string{"x"}, true},
		{"both filters pass", Endpoint{EventTypes: []string{"a"}, Channels: []string{"x"}}, "a", []string{"x"}, true},
		{"type passes, channel fails", Endpoint{EventTypes: []string{"a"}, Channels: []string{"x"}}, "a", []string{"y"}, false},
	}
	for _, tc := range tests {
		if got := EndpointMatches(&tc.ep, tc.typ, tc.channels); got != tc.want {
			t.Errorf("%s: EndpointMatches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestActiveSecrets(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	ep := Endpoint{Secrets: []EndpointSecret{{Key: "new"}, {Key: "old", ExpiresAt: &future}, {Key: "gone", ExpiresAt: &past}}}
	if got := ep.ActiveSecrets(now); !slices.Equal(got, []string{"new", "old"}) {
		t.Errorf("ActiveSecrets = %v", got)
	}
}

func TestRetryPolicyNext(t *testing.T) {
	now := time.Unix(1000, 0)
	p := RetryPolicy{Schedule: []time.Duration{time.Second, time.Minute}}
	tests := []struct {
		made       int
		retryAfter time.Duration
		want       time.Duration
		ok         bool
	}{
		{1, 0, time.Second, true},
		{2, 0, time.Minute, true},
		{3, 0, 0, false},
		{0, 0, 0, false},
		{1, 30 * time.Second, 30 * time.Second, true}, // Retry-After pushes later
		{2, time.Second, time.Minute, true},           // never earlier
		{1, 48 * time.Hour, time.Hour, true},          // capped
	}
	for _, tc := range tests {
		at, ok := p.Next(now, tc.made, tc.retryAfter)
		if ok != tc.ok || (ok && at.Sub(now) != tc.want) {
			t.Errorf("Next(made=%d, retryAfter=%v) = %v, %v; want +%v, %v", tc.made, tc.retryAfter, at.Sub(now), ok, tc.want, tc.ok)
		}
	}
	if got := DefaultRetryPolicy().MaxAttempts(); got != 8 {
		t.Errorf("default policy gives %d attempts, want 8", got)
	}
}

func TestRetryJitterStaysInBounds(t *testing.T) {
	p := RetryPolicy{Schedule: []time.Duration{10 * time.Second}, Jitter: 0.2}
	now := time.Unix(0, 0)
	seen := map[time.Duration]bool{}
	for i := 0; i < 500; i++ {
		at, _ := p.Next(now, 1, 0)
		d := at.Sub(now)
		if d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jittered delay %v outside 8s..12s", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("jitter gave only %d distinct delays in 500 draws", len(seen))
	}
}

func TestMakePage(t *testing.T) {
	key := func(s string) string { return s }
	p := MakePage([]string{"a", "b", "c"}, ListParams{Limit: 2}, key)
	if !slices.Equal(p.Items, []string{"a", "b"}) || p.Done || p.Iterator != "b" || p.PrevIterator != "-a" {
		t.Errorf("forward page = %+v", p)
	}
	p = MakePage([]string{"c", "b"}, ListParams{Limit: 2, Iterator: "-d"}, key)
	if !slices.Equal(p.Items, []string{"b", "c"}) || !p.Done || p.Iterator != "c" || p.PrevIterator != "-b" {
		t.Errorf("backward page = %+v", p)
	}
	p = MakePage([]string(nil), ListParams{Limit: 2}, key)
	if !p.Done || p.Iterator != "" {
		t.Errorf("empty page = %+v", p)
	}
	if k, back := (ListParams{Iterator: "-x"}).Cursor(); k != "x" || !back {
		t.Errorf("Cursor of -x = %q, %v", k, back)
	}
}

func TestValidNames(t *testing.T) {
	long := string(make([]byte, 257))
	for _, tc := range []struct {
		f    func(string) bool
		in   string
		want bool
	}{
		{ValidUID, "app-1_x.y", true},
		{ValidUID, "", false},
		{ValidUID, "has space", false},
		{ValidUID, long, false},
		{ValidEventTypeName, "invoice.paid", true},
		{ValidEventTypeName, "invoice/paid", false},
		{ValidChannel, "project:1+2", true},
		{ValidChannel, "a,b", false},
	} {
		if got := tc.f(tc.in); got != tc.want {
			t.Errorf("valid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestErrorCode(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorCode(Errorf(ENotFound, "x")) != ENotFound {
		t.Fatal("ErrorCode of nil or *Error wrong")
	}
	wrapped := fmt.Errorf("op: %w", Errorf(EConflict, "taken"))
	if !IsConflict(wrapped) || ErrorMessage(wrapped) != "taken" {
		t.Errorf("wrapped error lost its code or message")
	}
}

// TestBase62KnownValues pins the encoding: zero, the largest 20-byte
// value (KSUID's maximum string) and one in between.
func TestBase62KnownValues(t *testing.T) {
	var zero, maxv [20]byte
	for i := range maxv {
		maxv[i] = 0xff
	}
	if got := encodeBase62(zero[:]); got != "000000000000000000000000000" {
		t.Errorf("zero = %q", got)
	}
	if got := encodeBase62(maxv[:]); got != "aWgEPTl1tmebfsQzFP4bxwgy80V" {
		t.Errorf("max = %q", got)
	}
	one := zero
	one[19] = 63
	if got := encodeBase62(one[:]); got != "000000000000000000000000011" {
		t.Errorf("63 = %q", got)
	}
}
