package rooms

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// quotas enforces the per-user limits on creation: rooms owned at once, and creations per window.
//
// Rooms owned are counted from the projection (rooms whose owner_id is the user), plus the rooms this
// instance created that the projection does not show yet (the worker reports them a moment later),
// plus creations in flight; so neither a burst of concurrent requests nor a slow worker lets a user
// past the limit. A created room stops counting here once the projection shows it, once it is deleted
// through the API, or after grace, whichever comes first.
type quotas struct {
	maxOwned       int
	creationLimit  int
	creationWindow time.Duration
	grace          time.Duration

	mu      sync.Mutex
	users   map[string]*userQuota
	sweepAt int
}

type userQuota struct {
	// creations are the times of this window's creations, oldest first.
	creations []time.Time
	inFlight  int
	// created maps rooms created here to when they were created.
	created map[string]time.Time
}

func newQuotas(maxOwned, creationLimit int, creationWindow, grace time.Duration) *quotas {
	return &quotas{maxOwned: maxOwned, creationLimit: creationLimit, creationWindow: creationWindow, grace: grace,
		users: make(map[string]*userQuota), sweepAt: 1024}
}

// reserve admits one creation by user, who owns the rooms in owned according to the projection, or
// returns the 429 that refuses it. An admitted creation must be followed by finish.
func (q *quotas) reserve(user string, owned map[string]bool, now time.Time) *Error {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.users[user]
	if u == nil {
		if len(q.users) >= q.sweepAt {
			q.sweep(now)
		}
		u = &userQuota{created: make(map[string]time.Time)}
		q.users[user] = u
	}
	u.prune(now, q.creationWindow, q.grace)
	if len(u.creations) >= q.creationLimit {
		return &Error{Status: http.StatusTooManyRequests, Code: "too_many_creations",
			Message:    fmt.Sprintf("at most %d rooms may be created per %v", q.creationLimit, q.creationWindow),
			RetryAfter: u.creations[0].Add(q.creationWindow).Sub(now)}
	}
	count := len(owned) + u.inFlight
	for id := range u.created {
		if !owned[id] {
			count++
		}
	}
	if count >= q.maxOwned {
		return tooManyRooms(count)
	}
	u.creations = append(u.creations, now)
	u.inFlight++
	return nil
}

// limiter enforces the per-user limits on creation: rooms owned at once and creations per
// window. quotas does it in memory for one instance; sharedLimits in the store that instances
// share.
type limiter interface {
	// admit admits one creation by user, who owns the rooms in owned according to the
	// projection, or returns the 429 (or 503) that refuses it. done ends an admitted creation
	// with the room made ("" for none) and whether it certainly made none (refund).
	admit(ctx context.Context, user string, owned map[string]bool) (done func(roomID string, refund bool), refused *Error)
	// release stops counting a room deleted through the API.
	release(ctx context.Context, user, roomID string)
}

func (q *quotas) admit(_ context.Context, user string, owned map[string]bool) (func(string, bool), *Error) {
	if refused := q.reserve(user, owned, time.Now()); refused != nil {
		return nil, refused
	}
	return func(roomID string, refund bool) { q.finish(user, roomID, refund, time.Now()) }, nil
}

func (q *quotas) release(_ context.Context, user, roomID string) { q.forget(user, roomID) }

// tooManyRooms refuses a creation by a user who owns count rooms. Nothing but deleting a room
// helps; Retry-After tells clients how often asking again is fine.
func tooManyRooms(count int) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_rooms",
		Message:    fmt.Sprintf("you own %d rooms, the most allowed; delete one first", count),
		RetryAfter: time.Minute}
}

// finish ends a creation that reserve admitted: roomID is the room created, or "" when none was. A
// creation that certainly made no room (refund) no longer counts towards the creation limit.
func (q *quotas) finish(user, roomID string, refund bool, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.users[user]
	if u == nil {
		return
	}
	u.inFlight--
	if roomID != "" {
		u.created[roomID] = now
	}
	if refund && len(u.creations) > 0 {
		u.creations = u.creations[:len(u.creations)-1]
	}
}

// forget stops counting a room deleted through the API.
func (q *quotas) forget(user, roomID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if u := q.users[user]; u != nil {
		delete(u.created, roomID)
	}
}

// prune drops creations older than the window and created rooms older than grace.
func (u *userQuota) prune(now time.Time, window, grace time.Duration) {
	i := 0
	for i < len(u.creations) && !now.Before(u.creations[i].Add(window)) {
		i++
	}
	u.creations = u.creations[i:]
	for id, at := range u.created {
		if !now.Before(at.Add(grace)) {
			delete(u.created, id)
		}
	}
}

// sweep forgets users with nothing left to count, so the map grows with active users only.
func (q *quotas) sweep(now time.Time) {
	for id, u := range q.users {
		u.prune(now, q.creationWindow, q.grace)
		if len(u.creations) == 0 && u.inFlight == 0 && len(u.created) == 0 {
			delete(q.users, id)
		}
	}
	q.sweepAt = max(1024, 2*len(q.users))
}

// tracked counts the users with something counted, for tests.
func (q *quotas) tracked() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.users)
}
