package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// SharedStore holds what the edge instances serving one rooms API must agree on: the answers to
// requests with an Idempotency-Key, and each user's recent creations. Without it (one edge) the
// service keeps both in memory; package rooms/redisstore keeps them in the Redis that edges share.
// Every method is bounded by ctx; an error makes the request fail with 503, so that nothing is
// created that a retry on another instance could create again.
type SharedStore interface {
	// ClaimIdempotencyKey claims id for a request whose fingerprint is fp, for at most lease (the
	// claim then lapses, should its instance die). When another request holds id, claimed is
	// false and rec is what is stored: its fingerprint, and its answer once final.
	ClaimIdempotencyKey(ctx context.Context, id string, fp []byte, lease time.Duration) (rec IdempotencyRecord, claimed bool, err error)
	// FinishIdempotencyKey ends a claim: with a final answer, which is replayed for ttl; with a nil
	// answer, by releasing id so that a later retry runs again. A claim that lapsed meanwhile,
	// or that another request took over, is left alone.
	FinishIdempotencyKey(ctx context.Context, id string, fp, answer []byte, ttl time.Duration) error
	// IdempotencyKey reads id; ok is false when nothing holds it.
	IdempotencyKey(ctx context.Context, id string) (rec IdempotencyRecord, ok bool, err error)
	// ReserveCreation admits one creation by user at now unless limit creations happened within
	// window, and returns a token for RefundCreation; when refused, token is "" and retryAfter
	// says when the oldest creation leaves the window.
	ReserveCreation(ctx context.Context, user string, now time.Time, limit int, window time.Duration) (token string, retryAfter time.Duration, err error)
	// RefundCreation takes back a creation that certainly made no room.
	RefundCreation(ctx context.Context, user, token string) error

	// ReserveOwned admits one creation by user unless the rooms they own reach limit: owned
	// (the rooms the projection shows as theirs), plus rooms created on any instance that owned
	// does not list yet (counted for grace after their creation), plus creations in flight on
	// any instance (each counted for at most lease). It returns a token for FinishOwned, or ""
	// and the count when refused.
	ReserveOwned(ctx context.Context, user string, owned []string, limit int, now time.Time, lease, grace time.Duration) (token string, count int, err error)
	// FinishOwned ends a creation ReserveOwned admitted: roomID is the room made, "" for none.
	FinishOwned(ctx context.Context, user, token, roomID string, now time.Time, grace time.Duration) error
	// ForgetOwned stops counting a room deleted through the API.
	ForgetOwned(ctx context.Context, user, roomID string) error
}

// IdempotencyRecord is what a SharedStore holds for one Idempotency-Key.
type IdempotencyRecord struct {
	// Fingerprint identifies the request that claimed the key.
	Fingerprint []byte
	// Answer is the final answer (EncodeAnswer), nil while that request runs.
	Answer []byte
}

// Defaults of the shared store's use.
const (
	// DefaultSharedPollInterval is how often a retry waiting for the same key on another instance
	// looks for its answer.
	DefaultSharedPollInterval = 50 * time.Millisecond
	// DefaultSharedTimeout bounds each call to the shared store.
	DefaultSharedTimeout = 2 * time.Second
	// idempotencyLeaseMargin is added to RequestTimeout for a claim's lease.
	idempotencyLeaseMargin = 5 * time.Second
)

// storedAnswer is a final answer as a SharedStore keeps it.
type storedAnswer struct {
	Status int                 `json:"status"`
	Header map[string][]string `json:"header,omitempty"`
	Room   *Room               `json:"room,omitempty"`
	Error  *storedError        `json:"error,omitempty"`
}

type storedError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// encodeAnswer serializes a final answer: a created room or an error.
func encodeAnswer(r Response) ([]byte, error) {
	a := storedAnswer{Status: r.Status, Header: r.Header}
	switch {
	case r.Error != nil:
		a.Error = &storedError{Code: r.Error.Code, Message: r.Error.Message, RetryAfterMS: r.Error.RetryAfter.Milliseconds()}
	case r.Status == http.StatusCreated:
		room, ok := r.Body.(Room)
		if !ok {
			return nil, fmt.Errorf("rooms: a created answer without a room (%T)", r.Body)
		}
		a.Room = &room
	default:
		return nil, fmt.Errorf("rooms: cannot store an answer with status %d", r.Status)
	}
	return json.Marshal(a)
}

// decodeAnswer is encodeAnswer's inverse.
func decodeAnswer(b []byte) (Response, error) {
	var a storedAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return Response{}, fmt.Errorf("rooms: stored answer: %w", err)
	}
	r := Response{Status: a.Status, Header: http.Header(a.Header)}
	switch {
	case a.Error != nil:
		r.Error = &Error{Status: a.Status, Code: a.Error.Code, Message: a.Error.Message, RetryAfter: time.Duration(a.Error.RetryAfterMS) * time.Millisecond}
	case a.Room != nil && a.Status == http.StatusCreated:
		r.Body = *a.Room
	default:
		return Response{}, errors.New("rooms: stored answer holds neither a room nor an error")
	}
	return r, nil
}

var errSharedUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
	Message: "the store the servers share is unreachable; retry later", RetryAfter: time.Second}

// sharedIdempotencyID names a caller's key in the shared store.
func sharedIdempotencyID(subject, key string) string {
	b, _ := json.Marshal([2]string{subject, key}) // unambiguous whatever the subject holds
	return string(b)
}

// createShared is Create with an Idempotency-Key whose answer lives in the shared store.
func (s *Service) createShared(ctx context.Context, caller Caller, req CreateRequest, key string) Response {
	id := sharedIdempotencyID(caller.Subject, key)
	fp := req.fingerprint()
	lease := s.cfg.RequestTimeout + idempotencyLeaseMargin
	for {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SharedTimeout)
		rec, claimed, err := s.shared.ClaimIdempotencyKey(sctx, id, fp[:], lease)
		cancel()
		if err != nil {
			s.logger.Warn("rooms: shared store unreachable")
			return errorResponse(errSharedUnavailable)
		}
		if claimed {
			resp := s.create(ctx, caller, req)
			var answer []byte
			if finalAnswer(resp.Status) {
				if answer, err = encodeAnswer(resp); err != nil {
					s.logger.Error("rooms: answer not storable; the key is released")
					answer = nil
				}
			}
			// The answer stands even when storing it fails; the claim then lapses with its lease.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SharedTimeout)
			if err := s.shared.FinishIdempotencyKey(fctx, id, fp[:], answer, s.cfg.IdempotencyTTL); err != nil {
				s.logger.Warn("rooms: an Idempotency-Key answer could not be stored")
			}
			cancel()
			return resp
		}
		if string(rec.Fingerprint) != string(fp[:]) {
			return errorResponse(errKeyReused)
		}
		resp, again := s.awaitShared(ctx, id, fp[:], rec)
		if !again {
			return resp
		}
	}
}

// awaitShared waits for the answer of the request holding id on another instance (or this one).
// again is true when that request ended without a final answer: the caller claims the key anew.
func (s *Service) awaitShared(ctx context.Context, id string, fp []byte, rec IdempotencyRecord) (Response, bool) {
	t := time.NewTicker(s.cfg.SharedPollInterval)
	defer t.Stop()
	for {
		if rec.Answer != nil {
			resp, err := decodeAnswer(rec.Answer)
			if err != nil {
				s.logger.Error("rooms: a stored Idempotency-Key answer is unreadable")
				return errorResponse(errSharedUnavailable), false
			}
			return replayed(resp), false
		}
		select {
		case <-ctx.Done():
			return errorResponse(errInProgress), false
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SharedTimeout)
		var ok bool
		var err error
		rec, ok, err = s.shared.IdempotencyKey(sctx, id)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return errorResponse(errInProgress), false
		case err != nil:
			return errorResponse(errSharedUnavailable), false
		case !ok:
			return Response{}, true
		case string(rec.Fingerprint) != string(fp):
			return errorResponse(errKeyReused), false
		}
	}
}

// sharedLimits is the limiter of a service with a shared store: rooms owned at once (in flight
// and just created) and creations per window are counted on every instance.
type sharedLimits struct{ s *Service }

func (l sharedLimits) admit(ctx context.Context, user string, owned map[string]bool) (func(string, bool), *Error) {
	s := l.s
	ids := make([]string, 0, len(owned))
	for id := range owned {
		ids = append(ids, id)
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SharedTimeout)
	defer cancel()
	ownedToken, count, err := s.shared.ReserveOwned(sctx, user, ids, s.cfg.MaxOwnedRooms, time.Now(),
		s.cfg.RequestTimeout+idempotencyLeaseMargin, s.cfg.CreatedRoomGrace)
	switch {
	case err != nil:
		s.logger.Warn("rooms: shared store unreachable")
		return nil, errSharedUnavailable
	case ownedToken == "":
		return nil, tooManyRooms(count)
	}
	token, retryAfter, err := s.shared.ReserveCreation(sctx, user, time.Now(), s.cfg.CreationLimit, s.cfg.CreationWindow)
	var refused *Error
	switch {
	case err != nil:
		s.logger.Warn("rooms: shared store unreachable")
		refused = errSharedUnavailable
	case token == "":
		refused = &Error{Status: http.StatusTooManyRequests, Code: "too_many_creations",
			Message:    fmt.Sprintf("at most %d rooms may be created per %v", s.cfg.CreationLimit, s.cfg.CreationWindow),
			RetryAfter: retryAfter}
	}
	done := func(roomID string, refund bool) {
		// Past the request's end: its context may be done. A failure leaves a creation counted
		// until its lease, grace or window ends, which errs on the safe side.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SharedTimeout)
		defer cancel()
		if err := s.shared.FinishOwned(fctx, user, ownedToken, roomID, time.Now(), s.cfg.CreatedRoomGrace); err != nil {
			s.logger.Warn("rooms: a creation could not be recorded in the shared store")
		}
		if refund && token != "" {
			if err := s.shared.RefundCreation(fctx, user, token); err != nil {
				s.logger.Warn("rooms: a refused creation could not be taken back from the shared store")
			}
		}
	}
	if refused != nil {
		done("", true)
		return nil, refused
	}
	return done, nil
}

func (l sharedLimits) release(ctx context.Context, user, roomID string) {
	s := l.s
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SharedTimeout)
	defer cancel()
	if err := s.shared.ForgetOwned(sctx, user, roomID); err != nil {
		s.logger.Warn("rooms: a deleted room could not be forgotten in the shared store; it counts until its grace ends")
	}
}
