// Package control is the protocol of the worker's control endpoint, shared by the worker that
// serves it and the programs that call it (`coven-worker voice`, the edge's coven_media): every
// request is signed with the webhook secret under the worker's webhook scheme (package webhook),
// over content that binds the method, the path, a fresh request id and the body, so that a
// signature is good for one request only; failures answer {"error":{"code","message"}}.
package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// HeaderRequestID carries a control request's id: 16 to 64 letters, digits, '-' or '_', fresh
// for every request. It is part of the signed content, and the endpoint accepts each id once.
const HeaderRequestID = "X-Coven-Request-Id"

// SignedContent is what a control request's signature covers, in place of the bare body that
// event deliveries sign: the method, the path, the request id and the body, one per line. A
// signature is thus good for one request only: not for another path, another method, or a
// second time.
func SignedContent(method, path, requestID string, body []byte) []byte {
	out := make([]byte, 0, len(method)+len(path)+len(requestID)+len(body)+3)
	out = append(out, method...)
	out = append(out, ' ')
	out = append(out, path...)
	out = append(out, '\n')
	out = append(out, requestID...)
	out = append(out, '\n')
	return append(out, body...)
}

// SignRequest signs req, whose body is body, with signer as at now: it sets a fresh request id
// and the scheme's timestamp and signature headers (webhook-id, under Standard Webhooks, is the
// request id).
func SignRequest(req *http.Request, body []byte, signer *webhook.Signer, now time.Time) error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	id := hex.EncodeToString(b)
	req.Header.Set(HeaderRequestID, id)
	return signer.Sign(req.Header, SignedContent(req.Method, req.URL.Path, id, body), now, id)
}

func validRequestID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// RequestAuth verifies control requests and remembers the ids it accepted for as long as their
// signatures stay valid (twice the tolerance: a timestamp may be that far ahead), to refuse a
// replay.
type RequestAuth struct {
	verifier *webhook.Verifier
	max      int
	window   time.Duration

	mu    sync.Mutex
	seen  map[string]struct{}
	order []seenID // by expiry, oldest first
}

type seenID struct {
	id      string
	expires time.Time
}

// NewRequestAuth returns a RequestAuth verifying with v and remembering at most max ids.
func NewRequestAuth(v *webhook.Verifier, max int) *RequestAuth {
	return &RequestAuth{verifier: v, max: max, window: 2 * v.Tolerance(), seen: make(map[string]struct{})}
}

// Window is how long accepted ids are remembered: twice the verifier's tolerance.
func (a *RequestAuth) Window() time.Duration { return a.window }

// errReplayed and errRequestID are refusals of the endpoint's own rules, beside the webhook
// package's.
var (
	errReplayed  = errors.New("this request id was used already: sign every request afresh")
	errRequestID = errors.New("missing or malformed " + HeaderRequestID + " (16 to 64 letters, digits, '-' or '_')")
)

// Check authenticates r, whose body is body, and records its id. It returns the reason label
// (for metrics) and the error to answer, or "" and nil.
func (a *RequestAuth) Check(r *http.Request, body []byte, now time.Time) (string, *Error) {
	ids := r.Header.Values(HeaderRequestID)
	if len(ids) != 1 || !validRequestID(ids[0]) {
		return "request_id", NewError(http.StatusUnauthorized, CodeUnauthorized, "%v", errRequestID)
	}
	id := ids[0]
	if err := a.verifier.Verify(r.Header, SignedContent(r.Method, r.URL.Path, id, body)); err != nil {
		return webhook.Reason(err), NewError(http.StatusUnauthorized, CodeUnauthorized, "%v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.order) > 0 && !now.Before(a.order[0].expires) {
		delete(a.seen, a.order[0].id)
		a.order = a.order[1:]
	}
	if _, dup := a.seen[id]; dup {
		return "replayed", NewError(http.StatusUnauthorized, CodeReplayed, "%v", errReplayed)
	}
	if len(a.seen) >= a.max {
		return "too_many", NewError(http.StatusTooManyRequests, CodeTooManyRequests,
			"more than %d control requests within %v; try again shortly", a.max, a.window)
	}
	a.seen[id] = struct{}{}
	a.order = append(a.order, seenID{id: id, expires: now.Add(a.window)})
	return "", nil
}
