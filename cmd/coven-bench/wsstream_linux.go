package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/internal/wsframe"
)

const (
	// maxFrameHeader is the longest header: 2 bytes, 8 of length and 4 of mask key.
	maxFrameHeader = wsframe.MaxHeaderLen + 4
	// maxControlPayload is the most a ping, pong or close frame may carry.
	maxControlPayload = 125
	// minStreamRead is the least room a read into a client's own buffer gets, so that the frames
	// after the one being completed come along.
	minStreamRead = 4 << 10
)

// wsHandler receives what a wsStream parses.
type wsHandler interface {
	// message receives a whole text or binary message, read at now; msg is valid during the call.
	message(msg []byte, now time.Duration)
	// answerPing sends a pong echoing a ping's payload.
	answerPing(payload []byte) error
}

// wsStream parses the server's side of a WebSocket connection as it is read: a read may hold several
// frames and end inside one, and a message may come in fragments, with control frames between them.
// A read goes to a buffer its reader shares with other connections unless a frame is cut: then the
// frame's start is kept in pending and the next read goes after it. Once pending and message have
// grown, nothing is allocated per message.
type wsStream struct {
	pending    []byte // the start of a frame that the last read cut
	message    []byte // the payload so far of a fragmented message
	fragmented bool   // a message's first frame came without FIN
}

// parseHeader reads the header at the start of data and returns the size of the whole frame, or 0
// while data holds only part of the header. A frame this client refuses is an error: reserved bits (no
// extension is negotiated), a mask (a server's frames have none), an unknown opcode, a fragmented or
// long control frame, a data frame over clientReadLimit.
func parseHeader(data []byte) (h wsframe.Header, size int, err error) {
	h, ok := wsframe.ParseHeader(data)
	switch {
	case !ok:
		return h, 0, nil
	case h.Rsv != 0:
		return h, 0, fmt.Errorf("frame with reserved bits %#x", h.Rsv)
	case h.Masked:
		return h, 0, errors.New("masked frame from the server")
	case h.Op > wsframe.OpBinary && h.Op < wsframe.OpClose || h.Op > wsframe.OpPong:
		return h, 0, fmt.Errorf("frame with unknown opcode %#x", h.Op)
	case h.Op >= wsframe.OpClose && (!h.Fin || h.PayloadLen > maxControlPayload):
		return h, 0, fmt.Errorf("control frame %#x fragmented or of %d bytes", h.Op, h.PayloadLen)
	case h.PayloadLen > clientReadLimit:
		return h, 0, fmt.Errorf("frame of %d bytes, over the limit of %d", h.PayloadLen, clientReadLimit)
	}
	return h, h.Len + int(h.PayloadLen), nil
}

// readBuf returns where the next read goes: scratch, or while a frame is cut, the free space after
// its start in pending, grown to take at least the rest of the frame.
func (s *wsStream) readBuf(scratch []byte) []byte {
	if len(s.pending) == 0 {
		return scratch
	}
	_, need, _ := parseHeader(s.pending)
	if need == 0 {
		need = maxFrameHeader
	}
	s.pending = slices.Grow(s.pending, max(need-len(s.pending), minStreamRead))
	return s.pending[len(s.pending):cap(s.pending)]
}

// consume handles the n bytes read at now into buf, as returned by readBuf, handing messages and
// pings to to. It returns the edge's close frame as a websocket.CloseError, or why the stream cannot
// be read further.
func (s *wsStream) consume(buf []byte, n int, now time.Duration, to wsHandler) error {
	data := buf[:n]
	if len(s.pending) > 0 {
		s.pending = s.pending[:len(s.pending)+n]
		data = s.pending
	}
	used, err := s.frames(data, now, to)
	s.pending = append(s.pending[:0], data[used:]...) // may overlap data: append copies as copy does
	return err
}

// frames handles the whole frames at the start of data and returns how many bytes they took.
func (s *wsStream) frames(data []byte, now time.Duration, to wsHandler) (int, error) {
	used := 0
	for {
		h, size, err := parseHeader(data[used:])
		if err != nil || size == 0 || len(data)-used < size {
			return used, err
		}
		payload := data[used+h.Len : used+size]
		used += size
		if err := s.frame(h, payload, now, to); err != nil {
			return used, err
		}
	}
}

func (s *wsStream) frame(h wsframe.Header, payload []byte, now time.Duration, to wsHandler) error {
	switch h.Op {
	case wsframe.OpText, wsframe.OpBinary:
		if s.fragmented {
			return errors.New("a new message inside a fragmented one")
		}
		if h.Fin {
			to.message(payload, now)
			return nil
		}
		s.fragmented = true
		s.message = append(s.message[:0], payload...)
	case wsframe.OpContinuation:
		switch {
		case !s.fragmented:
			return errors.New("continuation frame outside a fragmented message")
		case len(s.message)+len(payload) > clientReadLimit:
			return fmt.Errorf("message of more than %d bytes", clientReadLimit)
		}
		s.message = append(s.message, payload...)
		if h.Fin {
			s.fragmented = false
			to.message(s.message, now)
		}
	case wsframe.OpPing:
		return to.answerPing(payload)
	case wsframe.OpClose:
		return closeError(payload)
	}
	return nil // a pong, unasked: the bench sends no WebSocket pings
}

// closeError is what the edge's close frame says, as coder/websocket reports it to the go client.
func closeError(payload []byte) error {
	switch len(payload) {
	case 0:
		return websocket.CloseError{Code: websocket.StatusNoStatusRcvd}
	case 1:
		return errors.New("close frame with a 1-byte payload")
	}
	return websocket.CloseError{Code: websocket.StatusCode(binary.BigEndian.Uint16(payload)), Reason: string(payload[2:])}
}

// appendFrame appends to dst a final frame of op carrying payload, masked with a random key as a
// client's frames must be.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	n, hl := len(payload), wsframe.HeaderLen(len(payload))
	dst = append(dst, make([]byte, hl)...)
	wsframe.PutHeader(dst[len(dst)-hl:], op, n)
	dst[len(dst)-hl+1] |= 0x80 // masked
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	dst = append(dst, key[:]...)
	at := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[at+i] ^= key[i&3]
	}
	return dst
}
