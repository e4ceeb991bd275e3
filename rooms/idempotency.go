package rooms

import (
	"container/list"
	"context"
	"net/http"
	"sync"
	"time"
)

// MaxIdempotencyKeyLength bounds an Idempotency-Key header.
const MaxIdempotencyKeyLength = 255

// idempotencyStore remembers the answers to POST requests that carried an Idempotency-Key, per user,
// so that a retried request gets the first answer instead of a second room (as Stripe's API does):
//
//   - the same key with the same request replays the stored answer;
//   - the same key with another request is refused (422): the client reused a key by mistake;
//   - the same key while the first request is still running waits for its answer.
//
// Only final answers are stored: a success and the client errors that a retry would meet again. An
// answer that a retry could change (429, 5xx, 503) is handed to the requests waiting for it and then
// forgotten, so that a later retry runs again. Entries expire after ttl; at most max are kept, the
// oldest finished ones making room for new ones.
type idempotencyStore struct {
	ttl        time.Duration
	max        int
	maxPerUser int

	mu      sync.Mutex
	entries map[idempotencyKey]*idempotencyEntry
	perUser map[string]int // entries by subject
	order   *list.List     // of *idempotencyEntry, oldest first
}

type idempotencyKey struct{ subject, key string }

type idempotencyEntry struct {
	id          idempotencyKey
	fingerprint [32]byte
	created     time.Time
	done        chan struct{}
	resp        Response // valid once done is closed
	elem        *list.Element
}

func newIdempotencyStore(ttl time.Duration, max, maxPerUser int) *idempotencyStore {
	return &idempotencyStore{ttl: ttl, max: max, maxPerUser: maxPerUser,
		entries: make(map[idempotencyKey]*idempotencyEntry), perUser: make(map[string]int), order: list.New()}
}

// validIdempotencyKey reports whether k is 1-255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// begin looks up subject's key. leader is true when the caller must run the request and then call
// finish; otherwise e is an earlier request with the same key, to wait for. err refuses the request.
func (s *idempotencyStore) begin(subject, key string, fp [32]byte, now time.Time) (e *idempotencyEntry, leader bool, err *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	id := idempotencyKey{subject, key}
	if e := s.entries[id]; e != nil {
		if e.fingerprint != fp {
			return nil, false, errKeyReused
		}
		return e, false, nil
	}
	// A user over their share makes room among their own answers, never among anyone else's.
	if s.perUser[subject] >= s.maxPerUser && !s.evictOldestFinished(subject) ||
		len(s.entries) >= s.max && !s.evictOldestFinished("") {
		return nil, false, &Error{Status: http.StatusServiceUnavailable, Code: "busy",
			Message: "too many requests with an Idempotency-Key are in progress; retry later", RetryAfter: time.Second}
	}
	e = &idempotencyEntry{id: id, fingerprint: fp, created: now, done: make(chan struct{})}
	e.elem = s.order.PushBack(e)
	s.entries[id] = e
	s.perUser[subject]++
	return e, true, nil
}

// finish records the leader's answer, wakes the requests waiting for it, and forgets it unless it is
// final.
func (s *idempotencyStore) finish(e *idempotencyEntry, resp Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.resp = resp
	close(e.done)
	if !finalAnswer(resp.Status) && s.entries[e.id] == e {
		s.remove(e)
	}
}

// finalAnswer reports whether a retry would get the same answer, so that it is worth replaying.
func finalAnswer(status int) bool {
	return status < 500 && status != http.StatusTooManyRequests
}

// wait returns the answer of e's request, marked as a replay, once it is known.
func (s *idempotencyStore) wait(ctx context.Context, e *idempotencyEntry) Response {
	select {
	case <-e.done:
	case <-ctx.Done():
		return errorResponse(errInProgress)
	}
	return replayed(e.resp)
}

var (
	errKeyReused = &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused",
		Message: "this Idempotency-Key was used for a different request; use a new key for a new request"}
	errInProgress = &Error{Status: http.StatusServiceUnavailable, Code: "in_progress",
		Message: "a request with this Idempotency-Key is still in progress; retry later", RetryAfter: time.Second}
)

// replayed marks an earlier answer as a replay.
func replayed(resp Response) Response {
	h := resp.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Idempotent-Replayed", "true")
	resp.Header = h
	return resp
}

// expire drops the finished entries older than ttl.
func (s *idempotencyStore) expire(now time.Time) {
	for f := s.order.Front(); f != nil; {
		e, next := f.Value.(*idempotencyEntry), f.Next()
		if now.Sub(e.created) < s.ttl {
			return
		}
		if isClosed(e.done) {
			s.remove(e)
		}
		f = next
	}
}

// evictOldestFinished drops the oldest finished entry of subject (of anyone if ""); it reports false
// when every such entry is running.
func (s *idempotencyStore) evictOldestFinished(subject string) bool {
	for f := s.order.Front(); f != nil; f = f.Next() {
		if e := f.Value.(*idempotencyEntry); (subject == "" || e.id.subject == subject) && isClosed(e.done) {
			s.remove(e)
			return true
		}
	}
	return false
}

func (s *idempotencyStore) remove(e *idempotencyEntry) {
	delete(s.entries, e.id)
	s.order.Remove(e.elem)
	if s.perUser[e.id.subject]--; s.perUser[e.id.subject] <= 0 {
		delete(s.perUser, e.id.subject)
	}
}

func (s *idempotencyStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
