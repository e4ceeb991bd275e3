package rooms

import (
	"net/http"
	"sync"
	"time"

	"github.com/spellcoven/gateway/internal/tokenbucket"
)

// maxRateBuckets bounds the callers whose request rate is remembered; past it, the buckets that have
// refilled (which hold nothing a new one would not) are dropped.
const maxRateBuckets = 10000

// userRates limits each caller's requests to the API: RequestRate a second, RequestBurst at once.
type userRates struct {
	rate  float64
	burst int

	mu      sync.Mutex
	buckets map[string]*tokenbucket.Bucket
}

func newUserRates(rate float64, burst int) *userRates {
	return &userRates{rate: rate, burst: burst, buckets: make(map[string]*tokenbucket.Bucket)}
}

// allow takes one request of subject's at now, or returns the refusal to answer.
func (u *userRates) allow(subject string, now time.Time) *Error {
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.buckets[subject]
	if b == nil {
		if len(u.buckets) >= maxRateBuckets {
			for s, old := range u.buckets {
				if old.Full(now, u.rate, u.burst) {
					delete(u.buckets, s)
				}
			}
		}
		b = new(tokenbucket.Bucket)
		u.buckets[subject] = b
	}
	if b.Take(now, u.rate, u.burst) {
		return nil
	}
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Message: "more requests than the rooms API takes from one user; slow down", RetryAfter: b.Wait(u.rate)}
}

// recentRooms remembers the rooms this edge created, and their owners, for as long as the
// projection may take to show them (CreatedRoomGrace): their owner may delete them meanwhile.
type recentRooms struct {
	grace time.Duration

	mu    sync.Mutex
	rooms map[string]recentRoom
}

type recentRoom struct {
	owner string
	at    time.Time
}

func (r *recentRooms) add(id, owner string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.rooms {
		if now.Sub(v.at) >= r.grace {
			delete(r.rooms, k)
		}
	}
	r.rooms[id] = recentRoom{owner: owner, at: now}
}

func (r *recentRooms) owner(id string, now time.Time) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.rooms[id]
	if !ok || now.Sub(v.at) >= r.grace {
		return "", false
	}
	return v.owner, true
}
