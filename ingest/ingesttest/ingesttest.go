// Package ingesttest runs the edge's real webhook ingest (ingest.Handler over a real hub) in process
// on 127.0.0.1, for the worker's tests: what the worker meets is what coven_hmac and coven_events
// answer. It records every request and lets a test answer some itself (a fault). The end-to-end tests
// use the real edge, a Caddy process, instead.
package ingesttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/ingest"
	"github.com/spellcoven/gateway/webhook"
)

// Secret is the webhook secret the edge accepts (coven scheme).
const Secret = "ingesttest-webhook-secret-0123456789"

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

// Edge is a running ingest.
type Edge struct {
	t       testing.TB
	srv     *httptest.Server
	hub     *hub.Hub
	ver     *webhook.Verifier
	handler ingest.Handler

	mu       sync.Mutex
	fault    Fault
	requests []Request
	applied  []event.Event
	verified int
}

// newHub starts an empty hub with the memory broker, as a fresh edge holds.
func newHub(t testing.TB) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Config{Shards: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// Start starts an edge and stops it when the test ends.
func Start(t testing.TB) *Edge {
	t.Helper()
	h := newHub(t)
	ver, err := webhook.NewVerifier(webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{Secret}})
	if err != nil {
		t.Fatal(err)
	}
	e := &Edge{t: t, hub: h, ver: ver, handler: ingest.Handler{Verifier: ver, Hub: h}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() {
		e.srv.Close()
		e.mu.Lock()
		defer e.mu.Unlock()
		e.hub.Close()
	})
	return e
}

// Restart replaces the hub with an empty one, as a restarted edge with the memory broker holds
// nothing: the events applied so far are forgotten.
func (e *Edge) Restart() {
	e.t.Helper()
	fresh := newHub(e.t)
	e.mu.Lock()
	old := e.hub
	e.hub, e.handler.Hub = fresh, fresh
	e.applied = nil
	e.mu.Unlock()
	old.Close()
}

func (e *Edge) current() (*hub.Hub, ingest.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hub, e.handler
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
func (e *Edge) Snapshot() (event.Position, *event.SnapshotPayload) {
	h, _ := e.current()
	return h.Snapshot()
}

// WaitApplied waits until the hub has applied an event at pos or later of pos's epoch.
func (e *Edge) WaitApplied(pos event.Position, d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p, _ := e.Snapshot()
		if p.Epoch == pos.Epoch && p.Seq >= pos.Seq {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("edge at %s after %v, want %s", p, d, pos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serve records the request, answers a fault if the test set one, and otherwise hands the request to
// the real ingest.
func (e *Edge) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, ingest.DefaultMaxBody+1))
	if err != nil {
		return
	}
	var rec Request
	var fault Fault
	n := 0
	if e.ver.Verify(r.Header, body) == nil {
		rec.Verified = true
		rec.Batch, _ = event.DecodeBatch(body, 0)
		e.mu.Lock()
		e.verified++
		n, fault = e.verified, e.fault
		e.mu.Unlock()
	}
	if fault != nil && rec.Batch != nil {
		if status, answer := fault(rec.Batch, n); status != 0 {
			rec.Status = status
			e.record(rec, nil)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, answer)
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	got := httptest.NewRecorder()
	_, handler := e.current()
	handler.ServeHTTP(got, r)
	rec.Status = got.Code
	var applied []event.Event
	var res event.IngestResult
	if got.Code == http.StatusOK && rec.Batch != nil && json.Unmarshal(got.Body.Bytes(), &res) == nil {
		applied = rec.Batch.Events[res.Skipped:]
	}
	e.record(rec, applied)
	for k, v := range got.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(got.Code)
	_, _ = w.Write(got.Body.Bytes())
}

func (e *Edge) record(rec Request, applied []event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, rec)
	e.applied = append(e.applied, applied...)
}
