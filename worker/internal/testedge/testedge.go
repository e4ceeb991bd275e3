// Package testedge is an in-process edge ingest for the worker's package tests: an HTTP server on
// 127.0.0.1 that verifies webhook signatures as coven_hmac does, decodes batches as coven_events does,
// and applies them to a real hub, answering 200, 409, 400 and 401 like the real edge. Tests can make
// it answer anything else on demand. The end-to-end tests use the real edge (a Caddy process) instead.
package testedge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/webhook"
)

// Secret is the webhook secret the test edge accepts.
const Secret = "testedge-webhook-secret-0123456789"

// Request is one request the edge received, signed correctly or not.
type Request struct {
	// Verified reports a valid signature; Batch is nil for an unverified or undecodable body.
	Verified bool
	Batch    *event.Batch
	// Status is what the edge answered.
	Status int
}

// Fault lets a test answer a request itself: it returns a status and body to send instead of
// ingesting, or status 0 to let the edge ingest normally. n counts verified requests from 1.
type Fault func(b *event.Batch, n int) (status int, body string)

// Edge is a running test edge.
type Edge struct {
	t   testing.TB
	srv *httptest.Server
	hub *hub.Hub
	ver *webhook.Verifier

	mu       sync.Mutex
	fault    Fault
	requests []Request
	applied  []event.Event
	verified int
}

// Start starts an edge and stops it when the test ends.
func Start(t testing.TB) *Edge {
	t.Helper()
	h, err := hub.New(hub.Config{Shards: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ver, err := webhook.NewVerifier(webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{Secret}})
	if err != nil {
		t.Fatal(err)
	}
	e := &Edge{t: t, hub: h, ver: ver}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() {
		e.srv.Close()
		h.Close()
	})
	return e
}

// URL is the ingest's URL.
func (e *Edge) URL() string { return e.srv.URL + "/internal/events" }

// SetFault installs f (nil removes it).
func (e *Edge) SetFault(f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fault = f
}

// Requests returns every request so far.
func (e *Edge) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// Applied returns the events the hub applied, in order.
func (e *Edge) Applied() []event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event.Event(nil), e.applied...)
}

// Snapshot returns the hub's projection and position.
func (e *Edge) Snapshot() (event.Position, *event.SnapshotPayload) { return e.hub.Snapshot() }

// WaitApplied waits until the hub has applied an event at pos or later of pos's epoch.
func (e *Edge) WaitApplied(pos event.Position, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p, _ := e.hub.Snapshot()
		if p.Epoch == pos.Epoch && p.Seq >= pos.Seq {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("edge at %s after %v, want %s", p, d, pos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *Edge) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	rec := Request{}
	status, answer := e.handle(r, body, &rec)
	rec.Status = status
	e.mu.Lock()
	e.requests = append(e.requests, rec)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func errorBody(code, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return string(b)
}

func (e *Edge) handle(r *http.Request, body []byte, rec *Request) (int, string) {
	if err := e.ver.Verify(r.Header, body); err != nil {
		return http.StatusUnauthorized, errorBody("unauthorized", "signature check failed")
	}
	rec.Verified = true
	e.mu.Lock()
	e.verified++
	n, fault := e.verified, e.fault
	e.mu.Unlock()
	batch, err := event.DecodeBatch(body, 0)
	if err != nil {
		return http.StatusBadRequest, errorBody("invalid_batch", err.Error())
	}
	rec.Batch = batch
	if fault != nil {
		if status, body := fault(batch, n); status != 0 {
			return status, body
		}
	}
	res, err := e.hub.Ingest(r.Context(), batch)
	var snap *hub.SnapshotRequiredError
	switch {
	case err == nil:
		e.mu.Lock()
		e.applied = append(e.applied, batch.Events[res.Skipped:]...)
		e.mu.Unlock()
		return http.StatusOK, fmt.Sprintf(`{"applied":%d,"skipped":%d}`, res.Applied, res.Skipped)
	case errors.As(err, &snap):
		b, _ := json.Marshal(map[string]any{
			"error":    map[string]string{"code": "snapshot_required", "message": "send a snapshot"},
			"expected": snap.Expected,
		})
		return http.StatusConflict, string(b)
	default:
		return http.StatusServiceUnavailable, errorBody("unavailable", err.Error())
	}
}
