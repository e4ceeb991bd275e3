package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/webhook"
)

const secret = "ingest-test-secret-0123456789abcdef"

func newHandler(t *testing.T) (Handler, *webhook.Signer) {
	t.Helper()
	h, err := hub.New(hub.Config{Shards: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.NewSigner(webhook.SchemeCoven, secret)
	if err != nil {
		t.Fatal(err)
	}
	return Handler{Verifier: v, Hub: h, MaxBody: 4096}, s
}

func batch(t *testing.T, epoch string, from uint64, types ...event.Type) []byte {
	t.Helper()
	b := event.Batch{Epoch: epoch}
	for i, typ := range types {
		var p any = &event.RoomPayload{Room: event.Room{ID: "1200000000000000001", Name: "Table"}}
		if typ == event.Snapshot {
			p = &event.SnapshotPayload{Rooms: []event.RoomState{}}
		}
		e, err := event.New(event.Position{Epoch: epoch, Seq: from + uint64(i)}, "1100000000000000001", time.Now(), typ, p)
		if err != nil {
			t.Fatal(err)
		}
		b.Events = append(b.Events, e)
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// post sends body to h, signed by s unless s is nil, and returns the answer.
func post(t *testing.T, h Handler, s *webhook.Signer, method string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/internal/events", strings.NewReader(string(body)))
	if s != nil {
		if err := s.Sign(req.Header, body, time.Now(), "m1"); err != nil {
			t.Fatal(err)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAnswers(t *testing.T) {
	h, s := newHandler(t)
	var answer event.ErrorAnswer
	decode := func(rec *httptest.ResponseRecorder, v any) {
		t.Helper()
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("answer %q: %v", rec.Body, err)
		}
	}

	rec := post(t, h, s, http.MethodGet, nil)
	if decode(rec, &answer); rec.Code != 405 || answer.Error.Code != event.AnswerMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, h, nil, http.MethodPost, batch(t, "e1", 1, event.Snapshot))
	if decode(rec, &answer); rec.Code != 401 || answer.Error.Code != event.AnswerBadSignature || rec.Header().Get("Connection") != "close" {
		t.Fatalf("unsigned: %d %s %v", rec.Code, rec.Body, rec.Header())
	}
	rec = post(t, h, s, http.MethodPost, []byte(`{"epoch":"e1","events":[`+strings.Repeat(" ", 5000)+`]}`))
	if decode(rec, &answer); rec.Code != 413 || answer.Error.Code != event.AnswerTooLarge {
		t.Fatalf("too large: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, h, s, http.MethodPost, []byte(`{"epoch":"e1","events":[{"v":1}]}`))
	if decode(rec, &answer); rec.Code != 400 || answer.Error.Code != event.AnswerInvalidBatch {
		t.Fatalf("invalid: %d %s", rec.Code, rec.Body)
	}
	// A batch that does not follow a snapshot: 409 with the position the edge holds.
	rec = post(t, h, s, http.MethodPost, batch(t, "e1", 5, event.RoomUpdated))
	if decode(rec, &answer); rec.Code != 409 || answer.Error.Code != event.AnswerSnapshotRequired || answer.Expected == nil {
		t.Fatalf("gap: %d %s", rec.Code, rec.Body)
	}
	var result event.IngestResult
	rec = post(t, h, s, http.MethodPost, batch(t, "e1", 1, event.Snapshot, event.RoomUpdated))
	if decode(rec, &result); rec.Code != 200 || result != (event.IngestResult{Applied: 2}) {
		t.Fatalf("applied: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, h, s, http.MethodPost, batch(t, "e1", 2, event.RoomUpdated, event.RoomUpdated))
	if decode(rec, &result); rec.Code != 200 || result != (event.IngestResult{Applied: 1, Skipped: 1}) {
		t.Fatalf("replayed in part: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, h, s, http.MethodPost, batch(t, "e1", 9, event.RoomUpdated))
	if decode(rec, &answer); rec.Code != 409 || *answer.Expected != (event.Position{Epoch: "e1", Seq: 4}) {
		t.Fatalf("a gap after seq 3: %d %s", rec.Code, rec.Body)
	}
}

func TestResponseWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Response{Status: 503, RetryAfter: 1500 * time.Millisecond, Body: event.ErrorAnswer{Error: event.ErrorDetail{Code: event.AnswerUnavailable}}}.Write(rec)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	Response{Status: 503, RetryAfter: time.Millisecond, Body: event.ErrorAnswer{}}.Write(rec)
	if rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("a short Retry-After: %v", rec.Header())
	}
}
