package herald

import (
	"math/rand/v2"
	"time"
)

// DefaultRetrySchedule is Svix's schedule: the delays after the first,
// second, ... failed attempt. With the first attempt it gives 8 attempts over
// about 27 hours.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// RetryPolicy decides when a failed delivery is tried again.
type RetryPolicy struct {
	// Schedule holds the delay after each failed attempt; after
	// len(Schedule)+1 attempts the delivery has failed for good.
	Schedule []time.Duration
	// Jitter spreads each delay by up to this fraction either way
	// (0.2 gives ±20%). Zero means exact delays.
	Jitter float64
	// MaxRetryAfter caps how far a receiver's Retry-After may push the next
	// attempt. Zero means one hour.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy returns the default schedule with ±20% jitter.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Schedule: DefaultRetrySchedule, Jitter: 0.2, MaxRetryAfter: time.Hour}
}

// Next returns when to try again after attemptsMade failed attempts (counting
// the one that just failed), and false when the schedule is spent. A
// positive retryAfter, as asked for by the receiver, delays the attempt to at
// least that long (capped by MaxRetryAfter).
func (p RetryPolicy) Next(now time.Time, attemptsMade int, retryAfter time.Duration) (time.Time, bool) {
	if attemptsMade < 1 || attemptsMade > len(p.Schedule) {
		return time.Time{}, false
	}
	delay := p.jittered(p.Schedule[attemptsMade-1])
	if retryAfter > 0 {
		limit := p.MaxRetryAfter
		if limit <= 0 {
			limit = time.Hour
		}
		retryAfter = min(retryAfter, limit)
		delay = max(delay, retryAfter)
	}
	return now.Add(delay), true
}

// MaxAttempts is the number of attempts a delivery gets before it fails.
func (p RetryPolicy) MaxAttempts() int { return len(p.Schedule) + 1 }

func (p RetryPolicy) jittered(d time.Duration) time.Duration {
	if p.Jitter <= 0 || d <= 0 {
		return d
	}
	spread := float64(d) * p.Jitter
	return d + time.Duration((rand.Float64()*2-1)*spread)
}
