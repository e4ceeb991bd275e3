// Package ingest is the edge's webhook ingest as one plain flow: check the signature headers, read
// the body within its limit, verify the signature, decode the batch, apply it to the hub, and answer
// (docs/protocol.md, "Webhook: worker → edge"). Each step returns a value, as rooms.Response does:
// the Caddy modules coven_hmac and coven_events write it, and tests run the same flow whole, in
// process, with Handler.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/webhook"
)

// DefaultMaxBody is the body limit of Handler when none is set.
const DefaultMaxBody = 1 << 20

// Response is one answer of the ingest.
type Response struct {
	Status int
	// Body is an event.IngestResult or an event.ErrorAnswer.
	Body any
	// RetryAfter, when positive, is sent as Retry-After (whole seconds, at least one).
	RetryAfter time.Duration
	// Close asks to close the connection: the request was refused before its body was read.
	Close bool
	// Reason labels a refusal for metrics ("" for an applied batch).
	Reason string
	// Err is the underlying error of a refused signature or an unexpected failure, for the log.
	Err error
}

// Write sends r as JSON.
func (r Response) Write(w http.ResponseWriter) {
	b, err := json.Marshal(r.Body)
	if err != nil {
		r.Status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(max(r.RetryAfter.Round(time.Second), time.Second)/time.Second)))
	}
	if r.Close {
		h.Set("Connection", "close") // spares net/http reading an unread body to reuse the connection
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write(append(b, '\n'))
}

// refusal is a Response refusing with code.
func refusal(status int, code, message string) Response {
	return Response{Status: status, Reason: code, Body: event.ErrorAnswer{Error: event.ErrorDetail{Code: code, Message: message}}}
}

// ReadVerified checks r's signature headers and timestamp (before reading a byte of the body),
// reads the body within maxBody, and verifies the signature. It returns the body, or the refusal to
// send instead.
func ReadVerified(r *http.Request, v *webhook.Verifier, maxBody int64) ([]byte, *Response) {
	if err := v.CheckHeaders(r.Header); err != nil {
		resp := refusal(http.StatusUnauthorized, event.AnswerBadSignature, err.Error())
		resp.Close, resp.Err = true, err
		return nil, &resp
	}
	if r.ContentLength > maxBody {
		resp := refusal(http.StatusRequestEntityTooLarge, event.AnswerTooLarge,
			fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, maxBody))
		return nil, &resp
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			resp := refusal(http.StatusRequestEntityTooLarge, event.AnswerTooLarge, "body exceeds the request_body limit")
			return nil, &resp
		}
		resp := refusal(http.StatusBadRequest, event.AnswerReadFailed, "reading the body failed")
		return nil, &resp
	}
	if int64(len(body)) > maxBody {
		resp := refusal(http.StatusRequestEntityTooLarge, event.AnswerTooLarge, fmt.Sprintf("body exceeds the limit of %d bytes", maxBody))
		return nil, &resp
	}
	if err := v.Verify(r.Header, body); err != nil {
		resp := refusal(http.StatusUnauthorized, event.AnswerBadSignature, err.Error())
		resp.Err = err
		return nil, &resp
	}
	return body, nil
}

// Apply decodes a verified body as a batch of at most maxEvents events (0: the contract's default)
// and applies it to h.
func Apply(ctx context.Context, h *hub.Hub, body []byte, maxEvents int) Response {
	batch, err := event.DecodeBatch(body, maxEvents)
	if err != nil {
		return refusal(http.StatusBadRequest, event.AnswerInvalidBatch, err.Error())
	}
	res, err := h.Ingest(ctx, batch)
	var snap *hub.SnapshotRequiredError
	switch {
	case err == nil:
		return Response{Status: http.StatusOK, Body: event.IngestResult{Applied: res.Applied, Skipped: res.Skipped}}
	case errors.As(err, &snap):
		resp := refusal(http.StatusConflict, event.AnswerSnapshotRequired, "the batch does not continue what the edge holds; send a snapshot")
		exp := snap.Expected
		resp.Body = event.ErrorAnswer{Error: resp.Body.(event.ErrorAnswer).Error, Expected: &exp}
		return resp
	case errors.Is(err, hub.ErrUnavailable):
		resp := refusal(http.StatusServiceUnavailable, event.AnswerUnavailable, "the event broker is unavailable; retry later")
		resp.RetryAfter = time.Second
		return resp
	default:
		resp := refusal(http.StatusServiceUnavailable, event.AnswerUnavailable, "the event could not be applied; retry later")
		resp.RetryAfter, resp.Err = time.Second, err
		return resp
	}
}

// MethodNotAllowed is the answer to anything but POST.
func MethodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", http.MethodPost)
	refusal(http.StatusMethodNotAllowed, event.AnswerMethodNotAllowed, "use POST").Write(w)
}

// Handler is the whole ingest as an http.Handler: POST only, then ReadVerified, Apply and the
// answer. The edge runs the same steps split between coven_hmac and coven_events.
type Handler struct {
	Verifier *webhook.Verifier
	Hub      *hub.Hub
	// MaxBody bounds the body (default DefaultMaxBody); MaxBatchEvents the events of a batch
	// (default: the contract's).
	MaxBody        int64
	MaxBatchEvents int
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		MethodNotAllowed(w)
		return
	}
	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	body, refused := ReadVerified(r, h.Verifier, maxBody)
	if refused != nil {
		refused.Write(w)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	Apply(r.Context(), h.Hub, body, h.MaxBatchEvents).Write(w)
}
