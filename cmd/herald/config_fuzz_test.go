package main

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// FuzzParseRetention checks that an accepted retention is within its
// bounds and is exactly what was written: a whole number of days or a Go
// duration, never a value that overflowed on the way.
func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"30d", "90d", "12h", "1s", "3650d", "3651d", "0d", "-1d", "d", "1.5d", "9223372036854775807d", "106751d", "1e3d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := parseRetention(v)
		if err != nil {
			return
		}
		if d < time.Second || d > 3650*herald.RetentionDay {
			t.Fatalf("parseRetention(%q) = %v, out of bounds", v, d)
		}
		if n, ok := strings.CutSuffix(v, "d"); ok {
			days, ok := new(big.Int).SetString(n, 10)
			want := new(big.Int).Mul(days, big.NewInt(int64(herald.RetentionDay)))
			if !ok || want.Cmp(big.NewInt(int64(d))) != 0 {
				t.Fatalf("parseRetention(%q) = %v, want %s days", v, d, n)
			}
		}
	})
}

// FuzzParseSchedule checks that an accepted retry schedule has at most 50
// delays, each positive and at most 7 days, and that writing it back and
// parsing it again gives the same schedule.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"", "5s,5m,30m,2h,5h,10h,10h", "100ms", " 1s , 2s ", "1s,,2s", "0s", "-1s", "168h", "168h1ns", "1s" + strings.Repeat(",1s", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sched, err := parseSchedule(v)
		if err != nil {
			return
		}
		if len(sched) > 50 {
			t.Fatalf("parseSchedule(%q): %d delays", v, len(sched))
		}
		parts := make([]string, len(sched))
		for i, d := range sched {
			if d <= 0 || d > 7*24*time.Hour {
				t.Fatalf("parseSchedule(%q): delay %v out of bounds", v, d)
			}
			parts[i] = d.String()
		}
		again, err := parseSchedule(strings.Join(parts, ","))
		if err != nil || len(again) != len(sched) {
			t.Fatalf("parseSchedule(%q) = %v, written back %q gives %v, %v", v, sched, strings.Join(parts, ","), again, err)
		}
		for i := range again {
			if again[i] != sched[i] {
				t.Fatalf("round trip of %q changed delay %d: %v -> %v", v, i, sched[i], again[i])
			}
		}
	})
}

// FuzzRetryPolicyNext checks the retry decision for any schedule, jitter,
// attempt count and Retry-After: it stops exactly when the schedule is
// spent, never goes back in time, stays within the jittered delay, and
// lets Retry-After push the attempt only up to MaxRetryAfter.
func FuzzRetryPolicyNext(f *testing.F) {
	f.Add("5s,5m,30m", 0.2, 1, int64(0), int64(time.Hour))
	f.Add("1s", 0.0, 2, int64(time.Minute), int64(0))
	f.Add("100ms,200ms", 1.0, 1, int64(-5), int64(time.Second))
	f.Fuzz(func(t *testing.T, schedule string, jitter float64, attempts int, retryAfter, maxRetryAfter int64) {
		sched, err := parseSchedule(schedule)
		if err != nil || !(jitter >= 0 && jitter <= 1) {
			return
		}
		p := herald.RetryPolicy{Schedule: sched, Jitter: jitter, MaxRetryAfter: time.Duration(maxRetryAfter)}
		now := time.Unix(1_700_000_000, 0)
		next, ok := p.Next(now, attempts, time.Duration(retryAfter))
		if ok != (attempts >= 1 && attempts <= len(sched)) {
			t.Fatalf("Next(attempts=%d) ok=%v with %d delays", attempts, ok, len(sched))
		}
		if !ok {
			return
		}
		base := sched[attempts-1]
		lo := time.Duration(float64(base) * (1 - jitter))
		hi := time.Duration(float64(base)*(1+jitter)) + 1
		limit := time.Duration(maxRetryAfter)
		if limit <= 0 {
			limit = time.Hour
		}
		if retryAfter > 0 {
			hi = max(hi, min(time.Duration(retryAfter), limit))
		}
		if d := next.Sub(now); d < 0 || d < lo-1 || d > hi {
			t.Fatalf("Next(%v, attempts=%d, retryAfter=%v) = +%v, want within [%v, %v]", sched, attempts, time.Duration(retryAfter), d, lo, hi)
		}
	})
}
