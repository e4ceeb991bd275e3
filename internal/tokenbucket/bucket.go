// Package tokenbucket is the token bucket that the edge's per-client rates use: a client may do
// something rate times a second on average and burst times at once.
package tokenbucket

import (
	"math"
	"time"
)

// Bucket is one client's bucket. The zero value is full. It is not safe for concurrent use.
type Bucket struct {
	tokens float64
	last   time.Time
}

// Take spends one token at now, reporting false (and spending nothing) if none is left.
func (b *Bucket) Take(now time.Time, rate float64, burst int) bool {
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Full reports whether the bucket has refilled to burst at now: a full bucket holds nothing that an
// empty new one would not.
func (b *Bucket) Full(now time.Time, rate float64, burst int) bool {
	b.refill(now, rate, burst)
	return b.tokens >= float64(burst)
}

// Wait returns how long after the last Take a token will be there again, in whole seconds (at least
// one), for Retry-After.
func (b *Bucket) Wait(rate float64) time.Duration {
	s := math.Ceil((1 - b.tokens) / rate)
	return time.Duration(max(s, 1)) * time.Second
}

func (b *Bucket) refill(now time.Time, rate float64, burst int) {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
}
