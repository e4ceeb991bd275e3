package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/event"
)

// WebSocket close codes the hub closes connections with.
const (
	CloseTooSlow     = 4008 // the queue overflowed or a write took longer than WriteTimeout
	CloseRestarting  = 1012 // the hub is closing or its state was restored: reconnect and resume
	closeWriteFailed = 1011 // the Conn reported a write error
)

// ErrClosed is returned by Subscription.Send once the subscription is closed or evicted.
var ErrClosed = errors.New("hub: subscription closed")

// Conn is the socket side of a subscription, implemented by the WebSocket adapter.
type Conn interface {
	// Write sends msg as ONE WebSocket text message. msg holds one or more frames joined by '\n'.
	// It must not retain msg after returning. The hub never calls Write concurrently for one Conn.
	Write(ctx context.Context, msg []byte) error
	// Close closes the connection with a WebSocket close code and reason. It may be called while a
	// Write is in flight and must make that Write return. The hub calls it at most once per Conn and
	// never where other subscribers wait for it, so it may block for a close handshake.
	Close(code int, reason string)
}

// FrameConn is a Conn that takes messages as WebSocket frames the hub builds: each event is framed
// once and the same bytes go to every subscriber, with no copy per connection.
type FrameConn interface {
	Conn
	// WriteFrame writes frame, one complete WebSocket text frame (RFC 6455 section 5.2, server to
	// client: FIN set, unmasked) whose payload is the message, as Write would write that message.
	WriteFrame(ctx context.Context, frame []byte) error
	// WriteFrameNow writes what the socket takes of frame without waiting for it and reports how many
	// bytes that was (0 when it cannot write without waiting, or not at all). When it wrote part of the
	// frame, the hub's next call is WriteFrame with the rest, frame[n:], and no other frame (such as a
	// control frame of the library) may go in between.
	WriteFrameNow(frame []byte) (int, error)
}

// Subscription is one connection's place in the stream. Its frames are written to the Conn in order
// by a writer goroutine that exists only while frames are waiting.
type Subscription struct {
	hub   *Hub
	shard *shard
	conn  Conn
	fconn FrameConn // conn, when it takes frames; nil otherwise
	drain func()    // s.writeAll bound once, so starting a writer allocates nothing

	mu      sync.Mutex
	queue   runQueue
	exempt  int  // frames at the head of the queue (hello, missed events) that the bound does not count
	writing bool // a writer owns the connection: the shard worker writing at once, or a writer goroutine
	closed  bool
	// carry is what the shard worker began to write without waiting and the writer goroutine it
	// started finishes first: the rest of the frame, owned by whoever owns the writing.
	carry message

	// writeGen is odd while a Write is in flight and grows by two per Write; the shard reads it to
	// find writes that exceed WriteTimeout without a timer or context per write.
	writeGen atomic.Uint64
	// Owned by the shard worker: the in-flight write it last saw and when it first saw it.
	seenGen uint64
	seenAt  time.Time
}

// Subscribe registers c. Atomically with registering it decides between resuming and a snapshot: if
// resume is not nil and the history holds every event after it (same epoch, not older than the
// history), the stream starts with {"type":"hello","resumed":true,...} and the missed events; otherwise
// with {"type":"hello","resumed":false,"epoch","seq":M,"snapshot":{...}}, and then events after M.
// Either way every event reaches c exactly once, in order. Writes may start before Subscribe returns.
func (h *Hub) Subscribe(resume *event.Position, c Conn) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.running(); err != nil {
		return nil, err
	}
	opening, err := h.openingRun(resume)
	if err != nil {
		return nil, err
	}
	if h.brokerDown {
		opening = append(opening, brokerUnavailableFrame)
	}
	sh := h.shards[int(h.nextShard.Add(1)-1)%len(h.shards)]
	s := &Subscription{hub: h, shard: sh, conn: c, exempt: len(opening), writing: true}
	s.fconn, _ = c.(FrameConn)
	s.drain = s.writeAll
	s.queue.push(opening)
	h.subscribers.Add(1)
	sh.push(shardOp{add: s})
	s.startWriter()
	return s, nil
}

// openingRun returns the frames a new subscriber starts with. h.mu is held.
func (h *Hub) openingRun(resume *event.Position) ([]*Record, error) {
	if resume != nil && !h.last.IsZero() && resume.Epoch == h.last.Epoch && resume.Seq <= h.last.Seq {
		if missed := h.last.Seq - resume.Seq; missed <= uint64(h.history.len()) {
			run := make([]*Record, 0, missed+1)
			run = append(run, &Record{frame: resumedHello(*resume)})
			return h.history.appendNewest(run, int(missed)), nil
		}
	}
	if h.hello == nil {
		frame, err := encodeSnapshotHello(h.last, h.proj.snapshot())
		if err != nil {
			return nil, fmt.Errorf("hub: encoding the snapshot hello: %w", err)
		}
		h.hello = &Record{frame: frame}
	}
	return []*Record{h.hello}, nil
}

// Send queues a control frame (such as {"type":"pong"}) in order with the events. The hub keeps frame
// until it is written: do not modify it. A full queue evicts the subscriber with 4008 and returns an
// error; after Close or eviction Send returns ErrClosed.
func (s *Subscription) Send(frame []byte) error {
	run := []*Record{{frame: frame}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.fullLocked() {
		s.evictLocked("queue full")
		s.mu.Unlock()
		return fmt.Errorf("%w: evicted, queue full", ErrClosed)
	}
	s.queue.push(run)
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	return nil
}

// fullLocked reports whether QueueLength frames still wait, not counting the opening ones: a client
// that has not caught up with that much when more arrives is too slow.
func (s *Subscription) fullLocked() bool {
	return s.queue.frames-s.exempt >= s.hub.cfg.QueueLength
}

// Close unregisters the subscription and drops its queued frames. It does not close the Conn: the
// adapter calls it when the socket has ended. Calling it again does nothing.
func (s *Subscription) Close() {
	s.mu.Lock()
	s.closeLocked()
	s.mu.Unlock()
}

// closeLocked marks s closed and frees its queue; it reports whether s was open. The shard drops s
// from its list lazily; a writer in flight exits after its Write.
func (s *Subscription) closeLocked() bool {
	if s.closed {
		return false
	}
	s.closed = true
	s.queue = runQueue{}
	s.exempt = 0
	s.hub.subscribers.Add(-1)
	return true
}

// evictLocked closes s as too slow. s.mu is held.
func (s *Subscription) evictLocked(why string) {
	if !s.closeLocked() {
		return
	}
	h := s.hub
	h.evicted.Add(1)
	if ce := h.logger.Check(zapcore.DebugLevel, "subscriber evicted"); ce != nil {
		ce.Write(zap.String("reason", why))
	}
	h.closeConn(s.conn, CloseTooSlow, "too slow")
}

// shutdown closes s and its Conn with code on behalf of the hub, unless s is closed already.
func (s *Subscription) shutdown(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeLocked() {
		s.hub.closeConn(s.conn, code, reason)
	}
}

// deliver queues runs. When no writer owns the connection, the shard worker writes the first message
// itself, as much of it as the socket takes at once: most writes complete so, with no goroutine and
// no scheduling between the event and the socket. What remains (the socket's buffer full, more frames
// queued, a Conn that cannot write without waiting) goes to a writer goroutine. The shard worker
// drops s once deliver reports false (closed or evicted).
func (s *Subscription) deliver(runs [][]*Record) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	for _, run := range runs {
		if s.fullLocked() {
			s.evictLocked("queue full")
			s.mu.Unlock()
			return false
		}
		s.queue.push(run)
	}
	if s.writing {
		s.mu.Unlock()
		return true
	}
	s.writing = true
	if s.fconn == nil {
		s.mu.Unlock()
		s.startWriter()
		return true
	}
	m := s.takeLocked()
	s.mu.Unlock()
	n, err := s.fconn.WriteFrameNow(m.wire)
	switch {
	case err != nil:
		m.release()
		s.writeFailed(err)
		return false
	case n == len(m.wire):
		m.release()
		s.shard.messages.Add(1)
		s.shard.delivered.Add(uint64(m.frames))
		s.mu.Lock()
		if s.closed || s.queue.frames == 0 {
			s.writing = false
			open := !s.closed
			s.mu.Unlock()
			return open
		}
		s.mu.Unlock()
	default:
		m.wire = m.wire[n:]
		s.carry = m
	}
	s.startWriter()
	return true
}
