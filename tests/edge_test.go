package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/spellcoven/gateway/internal/edgetest"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/event"
)

const roomID = "1200000000000000001"

// stack is an identity provider and an edge that trusts it.
type stack struct {
	idp  *authtest.Issuer
	edge *edgetest.Edge
}

func newStack(t testing.TB, tweak func(*edgetest.Config)) *stack {
	t.Helper()
	srv := authtest.NewTestServer(t)
	idp := srv.Issuer
	cfg := edgetest.Config{Bin: caddyBin, JWKSURL: srv.JWKSURL(), Issuer: idp.URL()}
	if tweak != nil {
		tweak(&cfg)
	}
	return &stack{idp: idp, edge: edgetest.Start(t, cfg)}
}

func contextFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (s *stack) token(t *testing.T, sub string, ttl time.Duration) string {
	t.Helper()
	tok, err := s.idp.MintFor(sub, edgetest.Audience, ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// connect opens an authenticated stream and returns it with its hello.
func (s *stack) connect(t *testing.T, sub string, resume *event.Position) (*edgetest.Client, edgetest.Frame) {
	t.Helper()
	// Right after a reload, a connection the old server accepted as it stopped is closed unanswered
	// (EOF), as Caddy does: a client dials again. An HTTP answer is final.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, resp, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Origin: edgetest.Origin})
		if err == nil {
			c.Auth(s.token(t, sub, time.Hour), resume)
			return c, c.Hello()
		}
		if resp != nil || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seed posts a snapshot holding one room, starting epoch ep.
func (s *stack) seed(t *testing.T, b *edgetest.Batches) {
	t.Helper()
	snap := b.Event(t, event.Snapshot, event.SnapshotPayload{Rooms: []event.RoomState{{
		Room: event.Room{ID: roomID, Name: "Table 1"}, Members: []event.Member{},
	}}})
	// A 503 (an edge whose broker is still connecting) is retried, as the worker does.
	if code, body := postRetrying(t, s.edge, edgetest.EncodeBatch(t, b.Epoch, snap)); code != http.StatusOK {
		t.Fatalf("seeding: %d %s", code, body)
	}
}

func member(i int) event.Member {
	return event.Member{UserID: fmt.Sprintf("13%017d", i), Username: fmt.Sprintf("player%d", i)}
}

func joinEvent(t *testing.T, b *edgetest.Batches, i int) event.Event {
	return b.Event(t, event.VoiceJoined, event.VoiceMemberPayload{RoomID: roomID, Member: member(i)})
}

func TestWebhookReachesEveryAuthenticatedClient(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)

	var clients []*edgetest.Client
	for i := 0; i < 5; i++ {
		c, hello := s.connect(t, fmt.Sprintf("user-%d", i), nil)
		if hello.Resumed || hello.Epoch != "ep1" || hello.Seq != 1 || hello.Snapshot == nil {
			t.Fatalf("hello = %s", hello.Raw)
		}
		if !strings.Contains(string(*hello.Snapshot), roomID) {
			t.Fatalf("snapshot lacks the room: %s", *hello.Snapshot)
		}
		clients = append(clients, c)
	}
	evs := []event.Event{joinEvent(t, b, 1), joinEvent(t, b, 2)}
	code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1", evs...))
	if code != http.StatusOK || string(body) != `{"applied":2,"skipped":0}`+"\n" {
		t.Fatalf("ingest: %d %s", code, body)
	}
	for _, c := range clients {
		got := c.ExpectEvents(2, 2, 5*time.Second)
		var p event.VoiceMemberPayload
		if err := json.Unmarshal(got[1].Data, &p); err != nil || p.Member.UserID != member(2).UserID || got[1].Type != string(event.VoiceJoined) {
			t.Fatalf("second event = %s (%v)", got[1].Raw, err)
		}
	}
	// A replay of the same batch is acknowledged and applied once.
	code, body = s.edge.Post(edgetest.EncodeBatch(t, "ep1", evs...))
	if code != http.StatusOK || string(body) != `{"applied":0,"skipped":2}`+"\n" {
		t.Fatalf("replay: %d %s", code, body)
	}
	clients[0].Quiet(300 * time.Millisecond)
}

func TestResumeAfterDisconnectYieldsExactlyTheMissedEvents(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	c, _ := s.connect(t, "alice", nil)
	s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 1)))
	last := c.ExpectEvents(2, 1, 5*time.Second)[0]
	c.C.CloseNow()

	var missed []event.Event
	for i := 2; i <= 6; i++ {
		missed = append(missed, joinEvent(t, b, i))
	}
	if code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1", missed...)); code != http.StatusOK {
		t.Fatalf("ingest: %d %s", code, body)
	}
	c2, hello := s.connect(t, "alice", &event.Position{Epoch: last.Epoch, Seq: last.Seq})
	if !hello.Resumed || hello.Snapshot != nil {
		t.Fatalf("hello = %s, want resumed without snapshot", hello.Raw)
	}
	c2.ExpectEvents(3, 5, 5*time.Second)
	c2.Quiet(300 * time.Millisecond)

	// A position the edge cannot continue (another epoch) gets a fresh snapshot instead.
	c3, hello := s.connect(t, "alice", &event.Position{Epoch: "gone", Seq: 9})
	if hello.Resumed || hello.Snapshot == nil || hello.Seq != 7 {
		t.Fatalf("hello = %s, want a snapshot at seq 7", hello.Raw)
	}
	c3.Quiet(200 * time.Millisecond)
}

func TestWebhookBadInputIsRefusedAndChangesNothing(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	c, _ := s.connect(t, "alice", nil)

	valid := edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 1))
	b.Next-- // the valid batch is posted last, so its seq stays free
	cases := []struct {
		name   string
		send   func() (int, []byte)
		status int
		code   string
	}{
		{"wrong secret", func() (int, []byte) { return s.edge.PostSigned(valid, time.Now(), "another-secret-0123456789abcdef") }, 401, "bad_signature"},
		{"missing signature", func() (int, []byte) {
			req, _ := http.NewRequest(http.MethodPost, s.edge.URL("/internal/events"), strings.NewReader(string(valid)))
			return edgetest.Do(t, req)
		}, 401, "bad_signature"},
		{"stale timestamp", func() (int, []byte) {
			return s.edge.PostSigned(valid, time.Now().Add(-2*time.Minute), edgetest.WebhookSecret)
		}, 401, "bad_signature"},
		{"future timestamp", func() (int, []byte) {
			return s.edge.PostSigned(valid, time.Now().Add(2*time.Minute), edgetest.WebhookSecret)
		}, 401, "bad_signature"},
		{"oversized body", func() (int, []byte) { return s.edge.Post([]byte(strings.Repeat(" ", 65*1024))) }, 413, "too_large"},
		{"malformed JSON", func() (int, []byte) { return s.edge.Post([]byte(`{"epoch":"ep1","events":[`)) }, 400, "invalid_batch"},
		{"unknown event type", func() (int, []byte) {
			return s.edge.Post([]byte(strings.Replace(string(valid), `"voice.joined"`, `"voice.exploded"`, 1)))
		}, 400, "invalid_batch"},
		{"gap", func() (int, []byte) {
			gap := &edgetest.Batches{Epoch: "ep1", Next: 5}
			return s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, gap, 9)))
		}, 409, "snapshot_required"},
		{"unknown epoch without snapshot", func() (int, []byte) {
			other := &edgetest.Batches{Epoch: "ep2"}
			return s.edge.Post(edgetest.EncodeBatch(t, "ep2", joinEvent(t, other, 1)))
		}, 409, "snapshot_required"},
		{"GET", func() (int, []byte) {
			req, _ := http.NewRequest(http.MethodGet, s.edge.URL("/internal/events"), nil)
			return edgetest.Do(t, req)
		}, 401, "bad_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.send()
			var got struct {
				Error    struct{ Code, Message string }
				Expected *event.Position
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q is not a JSON error: %v", body, err)
			}
			if status != tc.status || got.Error.Code != tc.code || got.Error.Message == "" {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.code)
			}
			if tc.code == "snapshot_required" && (got.Expected == nil || *got.Expected != (event.Position{Epoch: "ep1", Seq: 2})) {
				t.Fatalf("409 must say what the edge expects: %s", body)
			}
		})
	}
	c.Quiet(300 * time.Millisecond)
	// Nothing changed: the valid batch still applies as seq 2.
	b.Next = 1
	if code, body := s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 1))); code != 200 || !strings.Contains(string(body), `"applied":1`) {
		t.Fatalf("valid batch after the bad ones: %d %s", code, body)
	}
	c.ExpectEvents(2, 1, 5*time.Second)
}
