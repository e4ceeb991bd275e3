package discordrest

import (
	"net/http"
	"strconv"
	"time"
)

// limiter holds Discord's rate limits as this client knows them: the global limit and the pause a
// global 429 imposes, and the per-route buckets. Its methods are called with Client.mu held.
type limiter struct {
	globalLimit int
	// sent is a ring of the times of the last globalLimit requests: a request may go when the oldest
	// of them is at least a second old, so no one-second window ever holds more than globalLimit.
	sent      []time.Time
	next      int
	pausedTil time.Time // a global 429's retry_after

	// hashes maps a route to the bucket hash Discord announced for it; routes sharing a hash share
	// a bucket (per major parameter).
	hashes     map[string]string
	buckets    map[string]*bucket
	maxBuckets int
}

// bucket is one rate-limit bucket. Until an answer says its size and reset time (known), it admits
// one request at a time and later ones wait on firstAnswer; so it does again once its window is over,
// since only the answer to the window's first request tells when the new window ends. A route
// answered without rate-limit headers is not limited (unlimited).
type bucket struct {
	known       bool
	unlimited   bool
	limit       int
	remaining   int
	resetAt     time.Time
	inFlight    bool
	firstAnswer chan struct{}
}

// globalWindow is the window of the global limit: Discord's second, and a margin for requests that
// reach Discord in another order or at other intervals than they left.
const globalWindow = time.Second + 50*time.Millisecond

func newLimiter(globalLimit, maxBuckets int) *limiter {
	return &limiter{
		globalLimit: globalLimit,
		sent:        make([]time.Time, globalLimit),
		hashes:      make(map[string]string),
		buckets:     make(map[string]*bucket),
		maxBuckets:  maxBuckets,
	}
}

// bucketKey is the key of a route's bucket for one major parameter (guild or channel id).
func (l *limiter) bucketKey(route, major string) string {
	if h, ok := l.hashes[route]; ok {
		return h + "|" + major
	}
	return route + "|" + major
}

// reservation is the outcome of asking to send a request now.
type reservation struct {
	// wait > 0: come back after wait. waitFor != nil: come back when it is closed (an unknown
	// bucket's first answer). Both zero: the request may go, and has been counted.
	wait    time.Duration
	waitFor <-chan struct{}
	// key is the bucket the request was counted in.
	key string
}

// reserve decides whether a request on route/major may be sent at now and, if so, counts it.
func (l *limiter) reserve(route, major string, now time.Time) reservation {
	key := l.bucketKey(route, major)
	var wait time.Duration
	if now.Before(l.pausedTil) {
		wait = l.pausedTil.Sub(now)
	}
	if oldest := l.sent[l.next]; !oldest.IsZero() && now.Sub(oldest) < globalWindow {
		wait = max(wait, globalWindow-now.Sub(oldest))
	}
	b := l.buckets[key]
	if b == nil {
		l.sweep(now)
		b = &bucket{}
		l.buckets[key] = b
	}
	if b.known && !b.unlimited && !now.Before(b.resetAt) {
		b.known = false // the window is over: the next answer tells the new one
	}
	switch {
	case !b.known && b.inFlight:
		if wait == 0 {
			return reservation{waitFor: b.firstAnswer, key: key}
		}
	case b.known && !b.unlimited && b.remaining <= 0:
		wait = max(wait, b.resetAt.Sub(now))
	}
	if wait > 0 {
		return reservation{wait: wait, key: key}
	}
	switch {
	case b.unlimited:
	case b.known:
		b.remaining--
	default:
		b.inFlight = true
		b.firstAnswer = make(chan struct{})
	}
	l.sent[l.next] = now
	l.next = (l.next + 1) % len(l.sent)
	return reservation{key: key}
}

// release ends a request counted in key that got no answer carrying rate-limit headers, so that an
// unknown bucket admits the next request.
func (l *limiter) release(key string) {
	if b := l.buckets[key]; b != nil && !b.known && b.inFlight {
		b.inFlight = false
		close(b.firstAnswer)
	}
}

// update records what an answer's headers say about the bucket of route/major, which the request was
// counted in as key, and lets an unknown bucket admit its next request. A success without rate-limit
// headers marks the bucket unlimited.
func (l *limiter) update(route, major, key string, status int, h http.Header, now time.Time) {
	defer l.release(key)
	hash := h.Get("X-RateLimit-Bucket")
	limit, errL := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, errR := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	resetAfter, okA := parseSeconds(h.Get("X-RateLimit-Reset-After"))
	if !okA {
		// Older answers carry only the reset time (epoch seconds).
		if reset, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset"), 64); err == nil {
			resetAfter = max(time.UnixMilli(int64(reset*1000)).Sub(now), 0)
			okA = true
		}
	}
	if errL != nil || errR != nil || !okA || limit <= 0 {
		if status < 300 && h.Get("X-RateLimit-Limit") == "" && h.Get("X-RateLimit-Bucket") == "" {
			if b := l.buckets[key]; b != nil && !b.known {
				b.known, b.unlimited = true, true
				if b.inFlight {
					b.inFlight = false
					close(b.firstAnswer)
				}
			}
		}
		return
	}
	if hash != "" && l.hashes[route] != hash {
		l.hashes[route] = hash
		// The bucket keyed by route name becomes the hash's; carry what it knows over.
		if old := l.buckets[key]; old != nil {
			newKey := hash + "|" + major
			if _, exists := l.buckets[newKey]; !exists {
				l.buckets[newKey] = old
			}
		}
		key = hash + "|" + major
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{}
		l.buckets[key] = b
	}
	resetAt := now.Add(resetAfter)
	// Answers to concurrent requests of one window arrive in any order: the smallest remaining count
	// is the truest, and the reset time is the window's.
	if !b.known || remaining < b.remaining {
		b.remaining = remaining
	}
	if !b.known || resetAt.After(b.resetAt) {
		b.resetAt = resetAt
	}
	b.limit, b.unlimited = limit, false
	if !b.known {
		b.known = true
		if b.inFlight {
			b.inFlight = false
			close(b.firstAnswer)
		}
	}
}

// block empties the bucket of key until at, after a 429 for that bucket.
func (l *limiter) block(key string, at time.Time) {
	b := l.buckets[key]
	if b == nil {
		return
	}
	if !b.known {
		b.known, b.limit = true, 1
		if b.inFlight {
			b.inFlight = false
			close(b.firstAnswer)
		}
	}
	b.unlimited, b.remaining = false, 0
	if at.After(b.resetAt) {
		b.resetAt = at
	}
}

// pauseAll stops every request until at, after a global 429.
func (l *limiter) pauseAll(at time.Time) {
	if at.After(l.pausedTil) {
		l.pausedTil = at
	}
}

// sweep forgets buckets whose window is over once there are many, so that one bucket per channel
// ever deleted does not grow memory without bound.
func (l *limiter) sweep(now time.Time) {
	if len(l.buckets) < l.maxBuckets {
		return
	}
	for k, b := range l.buckets {
		if !b.inFlight && !now.Before(b.resetAt) {
			delete(l.buckets, k)
		}
	}
}

// parseSeconds reads a decimal number of seconds such as "1.234".
func parseSeconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}
