package delivery

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999", 7 * 24 * time.Hour},
		{" 30 ", 30 * time.Second},
		{"1.5", 0},
		{"99999999999999999999999", 0}, // not a number Go can hold: ignored
		{now.Add(2 * time.Hour).Format(time.RFC850), 2 * time.Hour},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(0, 0)
	var b bucket
	for i := 0; i < 4; i++ {
		want := now.Add(time.Duration(i) * time.Second / 4)
		if at := b.reserve(4, now); !at.Equal(want) {
			t.Fatalf("attempt %d may start at +%v, want +%v", i, at.Sub(now), want.Sub(now))
		}
	}
	if !b.busy(now) {
		t.Errorf("bucket should be busy")
	}
	if later := now.Add(10 * time.Second); b.busy(later) || !b.reserve(4, later).Equal(later) {
		t.Errorf("an idle bucket should not delay")
	}
	var off bucket
	if at := off.reserve(0, now); !at.Equal(now) || off.busy(now) {
		t.Errorf("rate 0 must not throttle")
	}
}

func TestTruncateUTF8KeepsTextEveryStoreHolds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"ok", 10, "ok"},
		{"héllo", 2, "h\uFFFD"}, // cut inside é
		{"bin\x00ary\xff", 64, "bin\uFFFDary\uFFFD"},
		{"abcdef", 3, "abc"},
	} {
		if got := truncateUTF8([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
