package mls

import (
	"errors"
	"fmt"
)

// The TLS presentation language of RFC 8446 with RFC 9420's variable-size vector length
// headers (Section 2.1.2): every <V> vector is preceded by a 1, 2 or 4 byte QUIC-style varint.

// maxVarint is the largest length a 4-byte varint header holds (2^30 - 1).
const maxVarint = 1<<30 - 1

// ErrTruncated reports input that ends inside a structure.
var ErrTruncated = errors.New("mls: message truncated")

// Writer appends TLS-encoded values to a buffer. The zero value is ready to use.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer appending to buf (which may be nil).
func NewWriter(buf []byte) *Writer { return &Writer{buf: buf} }

// Bytes returns everything written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Uint8 writes one byte.
func (w *Writer) Uint8(v uint8) { w.buf = append(w.buf, v) }

// Uint16 writes a big-endian uint16.
func (w *Writer) Uint16(v uint16) { w.buf = append(w.buf, byte(v>>8), byte(v)) }

// Uint32 writes a big-endian uint32.
func (w *Writer) Uint32(v uint32) {
	w.buf = append(w.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Uint64 writes a big-endian uint64.
func (w *Writer) Uint64(v uint64) {
	w.Uint32(uint32(v >> 32))
	w.Uint32(uint32(v))
}

// Bool writes a boolean as one byte, 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint8(1)
	} else {
		w.Uint8(0)
	}
}

// Raw appends b with no length header.
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// Varint writes a vector length header in its shortest form. Lengths past 2^30-1 cannot be
// represented; callers never produce them (no DAVE structure comes near).
func (w *Writer) Varint(n int) {
	switch {
	case n < 1<<6:
		w.buf = append(w.buf, byte(n))
	case n < 1<<14:
		w.buf = append(w.buf, 0x40|byte(n>>8), byte(n))
	case n <= maxVarint:
		w.buf = append(w.buf, 0x80|byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		panic(fmt.Sprintf("mls: vector of %d bytes exceeds the 2^30-1 limit", n))
	}
}

// Opaque writes b as an opaque<V> vector.
func (w *Writer) Opaque(b []byte) {
	w.Varint(len(b))
	w.Raw(b)
}

// Vector writes whatever fn writes as one <V> vector. The body is written in place after a
// reserved 4-byte header and moved down when a shorter header suffices, so nested vectors
// cost no extra buffers.
func (w *Writer) Vector(fn func(w *Writer)) {
	start := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	fn(w)
	n := len(w.buf) - start - 4
	var hdr [4]byte
	h := NewWriter(hdr[:0])
	h.Varint(n)
	hl := len(h.buf)
	copy(w.buf[start+hl:], w.buf[start+4:])
	copy(w.buf[start:], h.buf)
	w.buf = w.buf[:start+hl+n]
}

// Optional writes optional<T>: a presence byte, then T when present.
func (w *Writer) Optional(present bool, fn func(w *Writer)) {
	w.Bool(present)
	if present {
		fn(w)
	}
}

// Reader decodes TLS-encoded values. The first error sticks: later reads return zero values,
// and Err reports it, so decoders read a whole structure and check once.
type Reader struct {
	data []byte
	err  error
}

// NewReader returns a Reader over b. Decoded opaque values are copies: they stay valid when b
// is reused.
func NewReader(b []byte) *Reader { return &Reader{data: b} }

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.data) }

// Fail records err as the reader's error unless one is already recorded.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Failf records a formatted decoding error.
func (r *Reader) Failf(format string, args ...any) { r.Fail(fmt.Errorf("mls: "+format, args...)) }

// Finish reports an error when bytes are left over after a complete structure.
func (r *Reader) Finish() error {
	if r.err == nil && len(r.data) != 0 {
		r.err = fmt.Errorf("mls: %d unexpected trailing bytes", len(r.data))
	}
	return r.err
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.data) {
		r.err = ErrTruncated
		return nil
	}
	b := r.data[:n:n]
	r.data = r.data[n:]
	return b
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 { return uint64(r.Uint32())<<32 | uint64(r.Uint32()) }

// Bool reads a one-byte boolean; values other than 0 and 1 are an error.
func (r *Reader) Bool() bool {
	switch r.Uint8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Failf("invalid boolean")
		return false
	}
}

// Varint reads a vector length header, rejecting the reserved 0b11 prefix and non-minimal
// encodings as RFC 9420 requires.
func (r *Reader) Varint() int {
	first := r.Uint8()
	if r.err != nil {
		return 0
	}
	switch first >> 6 {
	case 0:
		return int(first)
	case 1:
		n := int(first&0x3f)<<8 | int(r.Uint8())
		if r.err == nil && n < 1<<6 {
			r.Failf("non-minimal vector length")
		}
		return n
	case 2:
		b := r.take(3)
		if b == nil {
			return 0
		}
		n := int(first&0x3f)<<24 | int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if n < 1<<14 {
			r.Failf("non-minimal vector length")
		}
		return n
	default:
		r.Failf("invalid vector length prefix")
		return 0
	}
}

// Raw reads n bytes with no header, copied.
func (r *Reader) Raw(n int) []byte {
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Opaque reads an opaque<V> vector, copied. An empty vector decodes as an empty, non-nil
// slice only when the caller needs to tell it from absence; here both are nil-equivalent.
func (r *Reader) Opaque() []byte {
	n := r.Varint()
	b := r.take(n)
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// Vector reads a <V> vector whose body is a sequence of items, calling fn until the body is
// used up. fn reads exactly one item from the sub-reader it is given.
func (r *Reader) Vector(fn func(r *Reader)) {
	n := r.Varint()
	body := r.take(n)
	if r.err != nil {
		return
	}
	sub := &Reader{data: body}
	for len(sub.data) > 0 && sub.err == nil {
		fn(sub)
	}
	if sub.err != nil {
		r.Fail(sub.err)
	}
}

// Optional reads optional<T>'s presence byte and, when present, T through fn.
func (r *Reader) Optional(fn func(r *Reader)) bool {
	if r.Bool() && r.err == nil {
		fn(r)
		return true
	}
	return false
}
