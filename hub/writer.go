package hub

import (
	"context"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/internal/wsframe"
)

// A subscription's writer is a goroutine that exists only while frames wait for it: started by
// whoever queues a frame when none runs, it drains the queue and exits. Idle connections therefore
// cost the hub no goroutine, and a blocked socket holds up its own writer only.

func (s *Subscription) startWriter() {
	s.shard.writers.Add(1)
	go s.drain()
}

// message is one WebSocket message ready to write: for a FrameConn the whole frame, for a Conn the
// payload. buf is the pooled buffer it was built in, if any, returned once it is written.
type message struct {
	wire   []byte
	frames int
	buf    *[]byte
}

// release returns m's buffer to the pool: m's bytes are no longer to be used.
func (m *message) release() {
	if m.buf != nil {
		putMessageBuffer(m.buf)
		m.buf = nil
	}
	m.wire = nil
}

// writeAll is the writer goroutine: it finishes what the shard worker began, then writes waiting
// frames, several per message when several wait, and exits when none are left or the subscription
// is closed.
func (s *Subscription) writeAll() {
	defer s.shard.writers.Done()
	if s.carry.wire != nil {
		// Written even if s closed meanwhile: the Conn holds its other writers until the frame ends.
		m := s.carry
		s.carry = message{}
		s.write(m, s.fconn.WriteFrame)
	}
	for {
		s.mu.Lock()
		if s.closed || s.queue.frames == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		m := s.takeLocked()
		s.mu.Unlock()
		if s.fconn != nil {
			s.write(m, s.fconn.WriteFrame)
		} else {
			s.write(m, s.conn.Write)
		}
	}
}

// write writes m with w, a blocking write that the shard's scan times (writeGen).
func (s *Subscription) write(m message, w func(context.Context, []byte) error) {
	s.writeGen.Add(1)
	err := w(s.hub.writeCtx, m.wire)
	s.writeGen.Add(1)
	frames := m.frames
	m.release()
	if err != nil {
		s.writeFailed(err)
		return // the writer's loop sees closed and exits
	}
	s.shard.messages.Add(1)
	s.shard.delivered.Add(uint64(frames))
}

// takeLocked removes the next message's frames from the queue: up to MaxCoalesce frames joined by
// '\n', stopping before MaxMessageBytes. A message of one event is the event's shared frame (framed
// once, for a FrameConn); a joined one, or one of a frame the hub did not frame, is built in a
// pooled buffer.
func (s *Subscription) takeLocked() message {
	cfg := &s.hub.cfg
	framed := s.fconn != nil
	cur := s.queue.cursor()
	first, _ := cur.next()
	m := message{wire: first.frame, frames: 1}
	if framed {
		m.wire = first.wire
	}
	size := len(first.frame)
	var payload []byte // the header's room and the joined payload, once a second frame joins
	for m.frames < cfg.MaxCoalesce {
		r, ok := cur.next()
		if !ok || size+1+len(r.frame) > cfg.MaxMessageBytes {
			break
		}
		size += 1 + len(r.frame)
		if m.buf == nil {
			m.buf = getMessageBuffer()
			payload = append((*m.buf)[:headroom(framed)], first.frame...)
		}
		payload = append(payload, '\n')
		payload = append(payload, r.frame...)
		m.frames++
	}
	switch {
	case m.buf != nil:
		*m.buf = payload // keep what append grew
		m.wire = payload
		if framed {
			m.wire = wsframe.Text(payload)
		}
	case framed && m.wire == nil:
		m.buf = getMessageBuffer()
		payload = append((*m.buf)[:wsframe.MaxHeaderLen], first.frame...)
		*m.buf = payload
		m.wire = wsframe.Text(payload)
	}
	s.queue.drop(m.frames)
	s.exempt -= min(m.frames, s.exempt)
	return m
}

// headroom is the room left before a payload built for a frame: where its header goes.
func headroom(framed bool) int {
	if framed {
		return wsframe.MaxHeaderLen
	}
	return 0
}

func (s *Subscription) writeFailed(err error) {
	s.mu.Lock()
	open := s.closeLocked()
	s.mu.Unlock()
	if !open {
		return // closed meanwhile: the error is the consequence
	}
	if ce := s.hub.logger.Check(zapcore.DebugLevel, "subscriber write failed"); ce != nil {
		ce.Write(zap.Error(err))
	}
	s.conn.Close(closeWriteFailed, "write failed")
}

// messageBuffers holds buffers for joined messages. Pooling them, rather than keeping one per
// subscriber, means an idle connection holds no buffer at all.
var messageBuffers sync.Pool

func getMessageBuffer() *[]byte {
	if b, ok := messageBuffers.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096) // at least wsframe.MaxHeaderLen: takeLocked reslices into it
	return &b
}

func putMessageBuffer(b *[]byte) {
	if cap(*b) <= 4*DefaultMaxMessageBytes {
		messageBuffers.Put(b)
	}
}
