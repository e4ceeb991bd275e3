package hub

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/spellcoven/gateway/internal/wsframe"
)

// frameConn is a testConn that takes WebSocket frames, as the edge's sockets do. WriteFrameNow takes
// at most room bytes of a frame (all of it when room is negative), as a socket with that much room in
// its buffer would, and nothing while the testConn is gated; the rest must come with the next
// WriteFrame. Every frame is parsed and its payload recorded as testConn records messages.
type frameConn struct {
	*testConn
	room int

	fmu       sync.Mutex
	partial   []byte // the part of a frame WriteFrameNow took
	nows      int    // WriteFrameNow calls that wrote something
	violation string // the first breach of FrameConn's contract
}

func newFrameConn(room int) *frameConn { return &frameConn{testConn: newTestConn(), room: room} }

func (c *frameConn) WriteFrameNow(frame []byte) (int, error) {
	c.fmu.Lock()
	if c.partial != nil && c.violation == "" {
		c.violation = "WriteFrameNow while the rest of a frame was due"
	}
	c.testConn.mu.Lock()
	gated, failed := c.testConn.gated, c.testConn.failWrite
	c.testConn.mu.Unlock()
	if failed != nil {
		c.fmu.Unlock()
		return 0, failed
	}
	n := len(frame)
	if gated {
		n = 0
	} else if c.room >= 0 {
		n = min(n, c.room)
	}
	if n > 0 {
		c.nows++
	}
	if n == 0 || n == len(frame) {
		c.fmu.Unlock()
		if n == 0 {
			return 0, nil
		}
		return n, c.record(context.Background(), frame)
	}
	c.partial = bytes.Clone(frame[:n])
	c.fmu.Unlock()
	return n, nil
}

func (c *frameConn) WriteFrame(ctx context.Context, frame []byte) error {
	c.fmu.Lock()
	whole := frame
	if c.partial != nil {
		whole = append(c.partial, frame...)
		c.partial = nil
	}
	c.fmu.Unlock()
	return c.record(ctx, whole)
}

// record checks that b is one text frame and hands its payload to testConn.Write.
func (c *frameConn) record(ctx context.Context, b []byte) error {
	op, payload, ok := wsframe.Parse(b)
	if !ok || op != wsframe.OpText {
		c.fmu.Lock()
		if c.violation == "" {
			c.violation = fmt.Sprintf("not one text frame: % x", b[:min(len(b), 16)])
		}
		c.fmu.Unlock()
	}
	return c.testConn.Write(ctx, payload)
}

func (c *frameConn) check(t *testing.T) {
	t.Helper()
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if c.violation != "" {
		t.Error(c.violation)
	}
}

var _ FrameConn = (*frameConn)(nil)

// Sockets that take whole frames at once, parts of them, or nothing without waiting all receive
// every event once and in order, in valid frames, with control frames and coalesced batches mixed in.
func TestFrameConnsGetEveryEventInOrder(t *testing.T) {
	h := startHub(t, Config{Shards: 2}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	conns := map[string]*frameConn{
		"whole frames at once": newFrameConn(-1),
		"nothing at once":      newFrameConn(0),
		"a few bytes at once":  newFrameConn(7),
		"one byte at once":     newFrameConn(1),
	}
	subs := map[string]*Subscription{}
	for name, c := range conns {
		subs[name] = subscribe(t, h, nil, c)
		c.waitFrames(t, 1)
	}
	// With every writer gone, the next event is written by the shard worker, at once.
	for _, s := range subs {
		waitIdle(t, s)
	}
	mustIngest(t, h, roomEvents(t, "e1", 2, 2)...)
	for _, c := range conns {
		c.waitFrames(t, 2)
	}
	const last = 60
	for seq := uint64(3); seq <= last; {
		n := uint64(1 + seq%4) // batches of 1 to 4 events: runs that coalesce
		to := min(seq+n-1, last)
		mustIngest(t, h, roomEvents(t, "e1", seq, to)...)
		if seq%5 == 0 {
			for _, s := range subs {
				if err := s.Send([]byte(`{"type":"pong"}`)); err != nil {
					t.Fatal(err)
				}
			}
		}
		seq = to + 1
	}
	for name, c := range conns {
		var events []frame
		c.waitFor(t, "every event", func() bool {
			events = events[:0]
			for _, f := range c.frames {
				if f.Type != "pong" {
					events = append(events, f)
				}
			}
			return len(events) == last
		})
		if got := seqs(events[1:]); !reflect.DeepEqual(got, seqRange(2, last)) {
			t.Errorf("%s: got %v", name, got)
		}
		c.check(t)
		if c.parseErr != nil {
			t.Errorf("%s: %v", name, c.parseErr)
		}
	}
	nows := func(name string) int {
		c := conns[name]
		c.fmu.Lock()
		defer c.fmu.Unlock()
		return c.nows
	}
	if nows("a few bytes at once") == 0 || nows("whole frames at once") == 0 {
		t.Errorf("no frame was written at once: %d, %d", nows("a few bytes at once"), nows("whole frames at once"))
	}
	if nows("nothing at once") != 0 {
		t.Error("a socket with no room took bytes")
	}
}

// A socket that takes nothing (its peer stopped reading) is evicted when its queue overflows, as
// with a Conn that takes messages.
func TestFrameConnThatTakesNothingIsEvicted(t *testing.T) {
	h := startHub(t, Config{QueueLength: 4, Shards: 1}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	slow := newFrameConn(-1)
	slow.gated = true
	subscribe(t, h, nil, slow)
	slow.waitInWrite(t) // the hello waits at the gate
	for seq := uint64(2); seq <= 7; seq++ {
		mustIngest(t, h, roomEvents(t, "e1", seq, seq)...)
	}
	if code, _ := slow.waitClosed(t); code != CloseTooSlow {
		t.Errorf("closed %d, want %d", code, CloseTooSlow)
	}
	slow.check(t)
	waitFor(t, "the subscriber gone", func() bool { return h.Stats().Subscribers == 0 })
}

// waitIdle waits until no writer owns s.
func waitIdle(t *testing.T, s *Subscription) {
	t.Helper()
	waitFor(t, "the subscription's writer gone", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.writing
	})
}

// A socket whose write without waiting fails is closed as a failed write.
func TestFrameConnWriteNowFails(t *testing.T) {
	h := startHub(t, Config{Shards: 1}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1))
	c := newFrameConn(-1)
	s := subscribe(t, h, nil, c)
	c.waitFrames(t, 1)
	waitIdle(t, s)
	c.mu.Lock()
	c.failWrite = errConnClosed
	c.mu.Unlock()
	mustIngest(t, h, roomEvents(t, "e1", 2, 2)...)
	if code, _ := c.waitClosed(t); code != closeWriteFailed {
		t.Errorf("closed %d, want %d", code, closeWriteFailed)
	}
	waitFor(t, "the subscriber gone", func() bool { return h.Stats().Subscribers == 0 })
}
