package discordgw

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"sync/atomic"
	"time"
)

// observedConn wraps the gateway connection's socket to see what discordgo does not tell: the close
// code Discord sends (discordgo turns it into a read error, closes and reconnects, whatever the
// code) and the heartbeat round trip. It reads the WebSocket framing (RFC 6455) of the bytes
// discordgo reads, without changing them.
type observedConn struct {
	net.Conn
	frames   frameScanner
	lastSent atomic.Int64 // unix nanoseconds of the last client write
	// onClose receives a close frame's code; onAck a heartbeat ACK's round trip; onInvalid an
	// invalid session (op 9) and whether Discord says it may be resumed.
	onClose   func(code int)
	onAck     func(rtt time.Duration)
	onInvalid func(resumable bool)
	// gate decides what goes out in place of an identify or resume frame (see gatePayload).
	gate func(op int) ([]byte, error)
}

func (c *observedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.frames.feed(p[:n], c.frameSeen)
	}
	return n, err
}

func (c *observedConn) Write(p []byte) (int, error) {
	c.lastSent.Store(time.Now().UnixNano())
	if isClientClose(p, closeNormal) {
		// discordgo closes with 1000 when it finds the connection a zombie, then resumes; but
		// 1000 ends the session at Discord. Any other code keeps it resumable.
		if _, err := c.Conn.Write(clientCloseFrame(closeServiceRestart)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if op, ok := clientOp(p); ok && (op == 2 || op == 6) && c.gate != nil {
		out, err := c.gate(op)
		if err != nil {
			// discordgo sees a failed write; the closed socket makes its reader report a
			// lost connection, and the session waits before identifying.
			c.Conn.Close()
			return 0, err
		}
		if out != nil {
			if _, err := c.Conn.Write(out); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

func (c *observedConn) frameSeen(opcode byte, payload []byte) {
	switch opcode {
	case opClose:
		if len(payload) >= 2 && c.onClose != nil {
			c.onClose(int(binary.BigEndian.Uint16(payload)))
		}
	case opText:
		// Heartbeat ACKs are small text frames; the client's last write before one is, but for a
		// rare identify or voice update, the heartbeat it answers.
		if bytes.Contains(payload, []byte(`"op":11`)) && c.onAck != nil {
			if sent := c.lastSent.Load(); sent != 0 {
				c.onAck(time.Since(time.Unix(0, sent)))
			}
		}
		// Discord sends op 9 as text (only dispatches are compressed).
		if bytes.Contains(payload, []byte(`"op":9`)) && c.onInvalid != nil {
			var m struct {
				Op int  `json:"op"`
				D  bool `json:"d"`
			}
			if json.Unmarshal(payload, &m) == nil && m.Op == 9 {
				c.onInvalid(m.D)
			}
		}
	}
}

// WebSocket opcodes the observer cares about.
const (
	opText  = 0x1
	opClose = 0x8
)

// peekLimit is how much of a frame's payload the scanner keeps: enough for a close code and reason
// and for a heartbeat ACK, not for dispatches.
const peekLimit = 125

// frameScanner follows a server-to-client byte stream: the HTTP upgrade response, then WebSocket
// frames. It calls back with the opcode and the payload of every frame of at most peekLimit bytes.
type frameScanner struct {
	inFrames bool
	// crlf counts the bytes of "\r\n\r\n" matched at the end of what was read of the response.
	crlf int

	header    [14]byte
	headerLen int
	needed    int // header bytes needed, once the first two are known
	opcode    byte
	mask      [4]byte
	masked    bool
	remaining uint64 // payload bytes still to come
	peek      []byte
	peeking   bool
	offset    uint64 // payload bytes seen, for unmasking
}

func (s *frameScanner) feed(p []byte, seen func(opcode byte, payload []byte)) {
	for len(p) > 0 {
		if !s.inFrames {
			p = s.skipResponse(p)
			continue
		}
		if s.remaining > 0 {
			n := min(uint64(len(p)), s.remaining)
			if s.peeking {
				for i := uint64(0); i < n; i++ {
					b := p[i]
					if s.masked {
						b ^= s.mask[(s.offset+i)%4]
					}
					s.peek = append(s.peek, b)
				}
			}
			s.offset += n
			s.remaining -= n
			p = p[n:]
			if s.remaining == 0 {
				s.frameDone(seen)
			}
			continue
		}
		s.header[s.headerLen] = p[0]
		s.headerLen++
		p = p[1:]
		if s.headerLen == 2 {
			s.needed = 2
			switch s.header[1] & 0x7f {
			case 126:
				s.needed += 2
			case 127:
				s.needed += 8
			}
			if s.header[1]&0x80 != 0 {
				s.needed += 4
			}
		}
		if s.headerLen >= 2 && s.headerLen == s.needed {
			s.startFrame(seen)
		}
	}
}

// skipResponse consumes the HTTP response up to and including its blank line.
func (s *frameScanner) skipResponse(p []byte) []byte {
	const end = "\r\n\r\n"
	for i, b := range p {
		switch {
		case b == end[s.crlf]:
			s.crlf++
		case b == '\r':
			s.crlf = 1
		default:
			s.crlf = 0
		}
		if s.crlf == len(end) {
			s.inFrames = true
			return p[i+1:]
		}
	}
	return nil
}

func (s *frameScanner) startFrame(seen func(byte, []byte)) {
	h := s.header[:s.headerLen]
	s.opcode = h[0] & 0x0f
	length := uint64(h[1] & 0x7f)
	rest := h[2:]
	switch length {
	case 126:
		length, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		length, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	s.masked = h[1]&0x80 != 0
	if s.masked {
		copy(s.mask[:], rest)
	}
	s.headerLen, s.needed = 0, 0
	s.remaining, s.offset = length, 0
	s.peek = s.peek[:0]
	s.peeking = length <= peekLimit
	if length == 0 {
		s.frameDone(seen)
	}
}

func (s *frameScanner) frameDone(seen func(byte, []byte)) {
	if s.peeking {
		seen(s.opcode, s.peek)
	}
	s.peeking = false
}
