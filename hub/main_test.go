package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait in these tests; nothing legitimate takes close to it.
const waitLimit = 10 * time.Second

const testGuild = "100000000000000001"

var testTime = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// startHub returns a running hub closed at the end of the test.
func startHub(t testing.TB, cfg Config, broker Broker) *Hub {
	t.Helper()
	h, err := New(cfg, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func mustEvent(t testing.TB, epoch string, seq uint64, typ event.Type, p any) event.Event {
	t.Helper()
	e, err := event.New(event.Position{Epoch: epoch, Seq: seq}, testGuild, testTime.Add(time.Duration(seq)*time.Millisecond), typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func room(id, name string, position int) event.Room {
	return event.Room{ID: id, Name: name, Position: position}
}

func member(userID string) event.Member {
	return event.Member{UserID: userID, Username: "user" + userID}
}

func snapshotEvent(t testing.TB, epoch string, seq uint64, rooms ...event.RoomState) event.Event {
	if rooms == nil {
		rooms = []event.RoomState{}
	}
	return mustEvent(t, epoch, seq, event.Snapshot, &event.SnapshotPayload{Rooms: rooms})
}

// roomEvents returns events seq from..to of epoch, each updating room "1" with a distinct name.
func roomEvents(t testing.TB, epoch string, from, to uint64) []event.Event {
	var out []event.Event
	for seq := from; seq <= to; seq++ {
		out = append(out, mustEvent(t, epoch, seq, event.RoomUpdated, &event.RoomPayload{Room: room("1", fmt.Sprintf("room at %d", seq), 0)}))
	}
	return out
}

func batchOf(events ...event.Event) *event.Batch {
	b := &event.Batch{Events: append([]event.Event{}, events...)}
	if len(events) > 0 {
		b.Epoch = events[0].Epoch
	}
	return b
}

func mustIngest(t testing.TB, h *Hub, events ...event.Event) IngestResult {
	t.Helper()
	res, err := h.Ingest(context.Background(), batchOf(events...))
	if err != nil {
		t.Fatalf("ingest %d events: %v", len(events), err)
	}
	return res
}

// frame is the part of a browser frame the tests look at.
type frame struct {
	Type     string                 `json:"type"`
	Resumed  bool                   `json:"resumed"`
	Epoch    string                 `json:"epoch"`
	Seq      uint64                 `json:"seq"`
	State    string                 `json:"state"`
	Snapshot *event.SnapshotPayload `json:"snapshot"`
	Data     json.RawMessage        `json:"data"`
	Broker   string                 `json:"broker"` // of a status frame
}

func (f frame) String() string {
	if f.Type == "hello" {
		return fmt.Sprintf("hello(resumed=%v %s/%d)", f.Resumed, f.Epoch, f.Seq)
	}
	if f.Epoch == "" {
		return f.Type
	}
	return fmt.Sprintf("%s %s/%d", f.Type, f.Epoch, f.Seq)
}

func parseFrame(b []byte) (frame, error) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("frame %q: %w", b, err)
	}
	return f, nil
}

var errConnClosed = errors.New("test conn: closed")

// testConn is a Conn that records what it is sent. With gated set, each Write waits until the test
// lets it through (release) or the conn is closed, as a socket whose peer stopped reading would.
type testConn struct {
	gated     bool
	closeWait chan struct{} // if not nil, Close blocks until it is closed (a slow close handshake)
	failWrite error         // if not nil, Write returns it

	mu        sync.Mutex
	msgs      [][]byte
	frames    []frame
	code      int
	reason    string
	closes    int
	writeAt   time.Time // start of the last Write
	closedAt  time.Time
	inWrite   bool
	parseErr  error
	changed   chan struct{} // closed and replaced on every change, for waiters
	gate      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newTestConn() *testConn {
	return &testConn{changed: make(chan struct{}), gate: make(chan struct{}), closed: make(chan struct{})}
}

func newGatedConn() *testConn {
	c := newTestConn()
	c.gated = true
	return c
}

func (c *testConn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *testConn) Write(ctx context.Context, msg []byte) error {
	c.mu.Lock()
	c.writeAt = time.Now()
	c.inWrite = true
	c.notifyLocked()
	gated, gate := c.gated, c.gate
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inWrite = false
		c.notifyLocked()
		c.mu.Unlock()
	}()
	if gated {
		select {
		case <-gate:
		case <-c.closed:
			return errConnClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.failWrite != nil {
		return c.failWrite
	}
	cp := bytes.Clone(msg) // msg must not be retained
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, cp)
	for _, part := range bytes.Split(cp, []byte("\n")) {
		f, err := parseFrame(part)
		if err != nil && c.parseErr == nil {
			c.parseErr = err
		}
		c.frames = append(c.frames, f)
	}
	return nil
}

func (c *testConn) Close(code int, reason string) {
	c.mu.Lock()
	c.closes++
	if c.closes == 1 {
		c.code, c.reason, c.closedAt = code, reason, time.Now()
	}
	c.notifyLocked()
	c.mu.Unlock()
	c.closeOnce.Do(func() { close(c.closed) })
	if c.closeWait != nil {
		<-c.closeWait
	}
}

// release lets every Write waiting at the gate through, and the ones after it.
func (c *testConn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gated = false
	close(c.gate)
}

// waitFor waits until cond holds (checked under the lock) or fails the test after waitLimit.
func (c *testConn) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, changed := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("timed out waiting for %s; frames %v, close %d %q", what, c.frames, c.code, c.reason)
		}
	}
}

// waitFrames waits for at least n frames and returns the first n.
func (c *testConn) waitFrames(t testing.TB, n int) []frame {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("%d frames", n), func() bool { return len(c.frames) >= n })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parseErr != nil {
		t.Fatal(c.parseErr)
	}
	return append([]frame{}, c.frames[:n]...)
}

func (c *testConn) waitClosed(t testing.TB) (int, string) {
	t.Helper()
	c.waitFor(t, "close", func() bool { return c.closes > 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.reason
}

func (c *testConn) waitInWrite(t testing.TB) {
	t.Helper()
	c.waitFor(t, "a write in flight", func() bool { return c.inWrite })
}

func (c *testConn) snapshot() (msgs [][]byte, frames []frame, closes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte{}, c.msgs...), append([]frame{}, c.frames...), c.closes
}

func subscribe(t testing.TB, h *Hub, resume *event.Position, c Conn) *Subscription {
	t.Helper()
	s, err := h.Subscribe(resume, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// seqs lists the seq of each event frame.
func seqs(frames []frame) []uint64 {
	var out []uint64
	for _, f := range frames {
		if f.Type != "hello" {
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

// runtimeYield lets other goroutines run between steps of a concurrent test.
func runtimeYield() { time.Sleep(50 * time.Microsecond) }
