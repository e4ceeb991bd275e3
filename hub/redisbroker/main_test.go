package redisbroker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/hub/redisbroker/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait in these tests; nothing legitimate takes close to it.
const waitLimit = 15 * time.Second

const testGuild = "100000000000000001"

// newBroker returns a broker on srv (or where cfg says, when it names Sentinel or Cluster), closed
// when the test ends.
func newBroker(t testing.TB, srv *redistest.Server, cfg Config) *Broker {
	t.Helper()
	if cfg.URL == "" && cfg.Sentinel == nil && cfg.Cluster == nil {
		cfg.URL = srv.URL()
	}
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// instance is an edge instance as far as the broker is concerned: a hub over a broker of its own.
type instance struct {
	broker *Broker
	hub    *hub.Hub
}

// startInstance starts a hub over a new broker on srv; both are closed when the test ends.
func startInstance(t testing.TB, srv *redistest.Server, cfg Config, hcfg hub.Config) *instance {
	t.Helper()
	b := newBroker(t, srv, cfg)
	h, err := hub.New(hcfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &instance{broker: b, hub: h}
}

// waitPosition waits until the instance applied the event at pos; instances other than the one that
// took a batch apply it a moment later.
func (in *instance) waitPosition(t testing.TB, pos event.Position) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got, _ := in.hub.Snapshot()
		if got == pos {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance holds %v, want %v", got, pos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (in *instance) ingest(t testing.TB, events ...event.Event) hub.IngestResult {
	t.Helper()
	res, err := in.hub.Ingest(context.Background(), batchOf(events...))
	if err != nil {
		t.Fatalf("ingest %d events from %s: %v", len(events), events[0].Position(), err)
	}
	return res
}

func batchOf(events ...event.Event) *event.Batch {
	b := &event.Batch{Events: append([]event.Event{}, events...)}
	if len(events) > 0 {
		b.Epoch = events[0].Epoch
	}
	return b
}

// story builds consecutive events of one epoch that change the projection in every way: rooms
// created, renamed and deleted, members joining, moving and leaving, the Discord link going down and
// up.
type story struct {
	t     testing.TB
	epoch string
	seq   uint64
}

func newStory(t testing.TB, epoch string) *story { return &story{t: t, epoch: epoch} }

func (s *story) event(typ event.Type, p any) event.Event {
	s.t.Helper()
	s.seq++
	e, err := event.New(event.Position{Epoch: s.epoch, Seq: s.seq}, testGuild, time.Date(2026, 5, 1, 12, 0, 0, int(s.seq)*int(time.Millisecond), time.UTC), typ, p)
	if err != nil {
		s.t.Fatal(err)
	}
	return e
}

func roomID(i int) string { return fmt.Sprintf("12%017d", i%7) }

func userID(i int) string { return fmt.Sprintf("13%017d", i%11) }

// snapshot returns a snapshot event holding one room.
func (s *story) snapshot() event.Event {
	return s.event(event.Snapshot, &event.SnapshotPayload{Rooms: []event.RoomState{{
		Room: event.Room{ID: roomID(0), Name: "Table 0"}, Members: []event.Member{},
	}}})
}

// next returns the i-th event of a deterministic mix of every event type.
func (s *story) next(i int) event.Event {
	switch i % 6 {
	case 0:
		return s.event(event.RoomCreated, &event.RoomPayload{Room: event.Room{ID: roomID(i), Name: fmt.Sprintf("Table %d", i), Position: i % 7}})
	case 1:
		return s.event(event.VoiceJoined, &event.VoiceMemberPayload{RoomID: roomID(i - 1), Member: event.Member{UserID: userID(i), Username: fmt.Sprintf("player%d", i)}})
	case 2:
		return s.event(event.RoomUpdated, &event.RoomPayload{Room: event.Room{ID: roomID(i - 2), Name: fmt.Sprintf("Table %d renamed", i), Position: i % 7}})
	case 3:
		return s.event(event.SystemStatus, &event.SystemStatusPayload{Discord: []string{event.DiscordUp, event.DiscordReconnecting}[i%2]})
	case 4:
		return s.event(event.VoiceLeft, &event.VoiceLeftPayload{RoomID: roomID(i - 3), UserID: userID(i - 3)})
	default:
		return s.event(event.RoomDeleted, &event.RoomDeletedPayload{RoomID: roomID(i + 3)})
	}
}

// events returns the next n events of the mix.
func (s *story) events(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = s.next(int(s.seq) + 1)
	}
	return out
}

// frame is the part of a stream frame the tests look at.
type frame struct {
	Type    string `json:"type"`
	Resumed bool   `json:"resumed"`
	Epoch   string `json:"epoch"`
	Seq     uint64 `json:"seq"`
	Broker  string `json:"broker"`
}

func (f frame) String() string {
	switch {
	case f.Type == "hello":
		return fmt.Sprintf("hello(resumed=%v %s/%d)", f.Resumed, f.Epoch, f.Seq)
	case f.Type == "status":
		return "status " + f.Broker
	default:
		return fmt.Sprintf("%s %s/%d", f.Type, f.Epoch, f.Seq)
	}
}

// client is a hub.Conn that records every frame it is sent.
type client struct {
	mu      sync.Mutex
	frames  []frame
	closed  int // close code, 0 while open
	changed chan struct{}
}

func newClient() *client { return &client{changed: make(chan struct{})} }

// subscribe connects a new client to in, resuming after resume if not nil.
func (in *instance) subscribe(t testing.TB, resume *event.Position) *client {
	t.Helper()
	c := newClient()
	s, err := in.hub.Subscribe(resume, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return c
}

func (c *client) Write(_ context.Context, msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, part := range bytes.Split(msg, []byte("\n")) {
		var f frame
		if err := json.Unmarshal(part, &f); err != nil {
			return err
		}
		c.frames = append(c.frames, f)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

func (c *client) Close(code int, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = code
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor waits until cond holds on the frames and close code, failing the test after waitLimit.
func (c *client) waitFor(t testing.TB, what string, cond func(frames []frame, closed int) bool) []frame {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		frames, closed, changed := append([]frame{}, c.frames...), c.closed, c.changed
		c.mu.Unlock()
		if cond(frames, closed) {
			return frames
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; frames %v, closed %d", what, frames, closed)
		}
	}
}

// waitEvents waits until the client holds events up to seq and returns every frame.
func (c *client) waitEvents(t testing.TB, seq uint64) []frame {
	t.Helper()
	return c.waitFor(t, fmt.Sprintf("events up to seq %d", seq), func(frames []frame, _ int) bool {
		for _, f := range frames {
			if f.Type != "hello" && f.Type != "status" && f.Seq >= seq {
				return true
			}
		}
		return false
	})
}

// eventSeqs lists the seqs of the event frames.
func eventSeqs(frames []frame) []uint64 {
	var out []uint64
	for _, f := range frames {
		if f.Type != "hello" && f.Type != "status" {
			out = append(out, f.Seq)
		}
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}
