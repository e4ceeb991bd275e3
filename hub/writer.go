package hub

import (
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// A subscription's writer is a goroutine that exists only while frames wait for it: started by
// whoever queues a frame when none runs, it drains the queue and exits. Idle connections therefore
// cost the hub no goroutine, and a blocked socket holds up its own writer only.

func (s *Subscription) startWriter() {
	s.shard.writers.Add(1)
	go s.drain()
}

// writeAll is the writer goroutine: it writes waiting frames, several per message when several wait,
// and exits when none are left or the subscription is closed.
func (s *Subscription) writeAll() {
	sh := s.shard
	defer sh.writers.Done()
	for {
		s.mu.Lock()
		if s.closed || s.queue.frames == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		msg, frames, buf := s.takeLocked()
		s.mu.Unlock()

		s.writeGen.Add(1)
		err := s.conn.Write(s.hub.writeCtx, msg)
		s.writeGen.Add(1)
		if buf != nil {
			putMessageBuffer(buf)
		}
		if err != nil {
			s.writeFailed(err)
			continue // the loop sees closed and exits
		}
		sh.messages.Add(1)
		sh.delivered.Add(uint64(frames))
	}
}

// takeLocked removes the next message's frames from the queue: up to MaxCoalesce frames joined by
// '\n', stopping before MaxMessageBytes. A message of one frame is the shared frame itself; a joined
// one is built in buf, a pooled buffer that the caller returns after the write.
func (s *Subscription) takeLocked() (msg []byte, frames int, buf *[]byte) {
	cfg := &s.hub.cfg
	cur := s.queue.cursor()
	msg, _ = cur.next()
	frames = 1
	for frames < cfg.MaxCoalesce {
		f, ok := cur.next()
		if !ok || len(msg)+1+len(f) > cfg.MaxMessageBytes {
			break
		}
		if buf == nil {
			buf = getMessageBuffer()
			msg = append((*buf)[:0], msg...)
		}
		msg = append(msg, '\n')
		msg = append(msg, f...)
		frames++
	}
	if buf != nil {
		*buf = msg // keep what append grew
	}
	s.queue.drop(frames)
	s.exempt -= min(frames, s.exempt)
	return msg, frames, buf
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
	b := make([]byte, 0, 4096)
	return &b
}

func putMessageBuffer(b *[]byte) {
	if cap(*b) <= 4*DefaultMaxMessageBytes {
		messageBuffers.Put(b)
	}
}
