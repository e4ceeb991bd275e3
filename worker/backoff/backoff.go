// Package backoff spaces retries for the worker: the delivery loop's retries to the edge and the
// gateway session's reconnections to Discord.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy spaces retries: the n-th consecutive retry (from 0) waits a random time between half and
// all of min(Max, Initial * 2^n) ("equal jitter"), so that retries back off exponentially, never
// exceed Max, and several workers restarted together do not retry in lockstep.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
}

// Ceiling returns min(Max, Initial * 2^attempt), the longest wait of that attempt.
func (p Policy) Ceiling(attempt int) time.Duration {
	d := p.Initial
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Delay returns the wait before retry number attempt (from 0).
func (p Policy) Delay(attempt int) time.Duration {
	c := p.Ceiling(attempt)
	half := c / 2
	return half + rand.N(c-half+1)
}
