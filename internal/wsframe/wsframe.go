// Package wsframe builds the WebSocket frames a server sends (RFC 6455 section 5.2): the edge frames
// each event once and writes the same bytes to every subscriber's socket. It also reads frame
// headers, for the load tool's clients.
package wsframe

import "encoding/binary"

// MaxHeaderLen is the longest header of a server frame: no mask, a 64-bit payload length.
const MaxHeaderLen = 10

// Opcodes of RFC 6455 section 5.2.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xa
)

// HeaderLen is the length of the header of an unmasked frame with an n-byte payload.
func HeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// PutTextHeader writes the header of a final, unmasked text frame with an n-byte payload into dst,
// which must be HeaderLen(n) bytes long.
func PutTextHeader(dst []byte, n int) { PutHeader(dst, OpText, n) }

// PutHeader writes the header of a final, unmasked frame of op with an n-byte payload into dst,
// which must be HeaderLen(n) bytes long.
func PutHeader(dst []byte, op byte, n int) {
	dst[0] = 0x80 | op // FIN
	switch len(dst) {
	case 2:
		dst[1] = byte(n)
	case 4:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
	}
}

// Text frames payload in place: buf holds MaxHeaderLen bytes of room and then the payload, and the
// result is the frame, a subslice of buf ending where buf does.
func Text(buf []byte) []byte {
	n := len(buf) - MaxHeaderLen
	hl := HeaderLen(n)
	frame := buf[MaxHeaderLen-hl:]
	PutTextHeader(frame[:hl], n)
	return frame
}

// Close is a server close frame with code and reason; a reason is cut to the 123 bytes a control
// frame leaves it.
func Close(code uint16, reason string) []byte {
	reason = reason[:min(len(reason), 123)]
	f := make([]byte, 4, 4+len(reason))
	f[0], f[1] = 0x80|OpClose, byte(2+len(reason))
	binary.BigEndian.PutUint16(f[2:], code)
	return append(f, reason...)
}

// Opcode returns the opcode of the frame that starts b (0 for an empty b).
func Opcode(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0] & 0x0f
}

// Header is what a frame's header says.
type Header struct {
	Fin, Masked bool
	Rsv         byte // the reserved bits, in place
	Op          byte
	Len         int    // of the header, mask key included
	PayloadLen  uint64 // as the header says, which may be more than a frame can be
}

// ParseHeader reads the header at the start of b; ok is false while b holds only part of it.
func ParseHeader(b []byte) (h Header, ok bool) {
	if len(b) < 2 {
		return h, false
	}
	h = Header{Fin: b[0]&0x80 != 0, Rsv: b[0] & 0x70, Op: b[0] & 0x0f, Masked: b[1]&0x80 != 0}
	h.PayloadLen, h.Len = uint64(b[1]&0x7f), 2
	switch h.PayloadLen {
	case 126:
		if len(b) < 4 {
			return h, false
		}
		h.PayloadLen, h.Len = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, false
		}
		h.PayloadLen, h.Len = binary.BigEndian.Uint64(b[2:]), 10
	}
	if h.Masked {
		h.Len += 4
	}
	return h, len(b) >= h.Len
}

// Parse splits one unmasked frame into its opcode and payload; ok is false when b is not exactly
// one such frame.
func Parse(b []byte) (op byte, payload []byte, ok bool) {
	h, ok := ParseHeader(b)
	if !ok || h.Masked || uint64(len(b)-h.Len) != h.PayloadLen {
		return 0, nil, false
	}
	return h.Op, b[h.Len:], true
}
