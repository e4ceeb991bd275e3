// Package backoff spaces every retry of the gateway: the worker's deliveries to the edge and its
// gateway reconnections to Discord, the JWKS fetches, the rooms API's Discord REST retries, the voice
// client's reconnections and the Redis broker's returns to Redis. One policy, with jitter everywhere,
// so that many processes failing together do not retry together.
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
