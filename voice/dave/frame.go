package dave

import (
	"errors"
	"fmt"
)

// The DAVE protocol frame (whitepaper "Payload Format"): the media frame with its encrypted
// ranges replaced by ciphertext, then the supplemental data
//
//	tag (8 bytes, truncated AES-128-GCM) || ULEB128 nonce || ULEB128 (offset, length)* of the
//	unencrypted ranges || supplemental size (1 byte, everything after the media) || 0xFA 0xFA
const (
	tagSize        = 8
	markerSize     = 2
	marker         = 0xFA
	minSupplement  = tagSize + 1 + 1 + markerSize // tag, 1-byte nonce, size, marker
	maxSupplement  = 255
	maxULEB128Size = 10
)

// opusSilence is the Opus frame the SFU synthesizes for muted senders; it always passes
// through unencrypted (whitepaper "Silence Packets").
var opusSilence = [3]byte{0xF8, 0xFF, 0xFE}

func isOpusSilence(frame []byte) bool {
	return len(frame) == 3 && frame[0] == opusSilence[0] && frame[1] == opusSilence[1] && frame[2] == opusSilence[2]
}

// Codec is the media codec of a frame to encrypt; it decides which bytes stay in the clear so
// the packetizer and depacketizer still work. Numbered as libdave numbers them.
type Codec uint8

// Codecs with DAVE frame handling.
const (
	// CodecOpus frames are encrypted whole.
	CodecOpus Codec = 1
	// CodecVP8 frames keep their payload header clear: 10 bytes on key frames (the whole
	// uncompressed header), 1 byte otherwise.
	CodecVP8 Codec = 2
	// CodecH264 frames (Annex B access units) keep their start codes, non-VCL NAL units and
	// slice header starts clear, ciphertext free of start codes (h264.go).
	CodecH264 Codec = 4
)

// String names the codec.
func (c Codec) String() string {
	switch c {
	case CodecOpus:
		return "opus"
	case CodecVP8:
		return "vp8"
	case CodecH264:
		return "h264"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// clearPrefix returns how many leading bytes of a frame stay unencrypted. Unknown codecs and
// frames too short for their codec's header are encrypted whole, as the protocol requires.
func clearPrefix(c Codec, frame []byte) int {
	if c != CodecVP8 || len(frame) == 0 {
		return 0
	}
	n := 1
	if frame[0]&0x01 == 0 { // P bit clear: key frame
		n = 10
	}
	if len(frame) < n {
		return 0
	}
	return n
}

// appendULEB128 appends v in unsigned LEB128.
func appendULEB128(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// ulebSize is the encoded size of v.
func ulebSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// readULEB128 decodes one value from b, returning it and its size; ok is false when b ends
// inside the value or the value does not fit 64 bits.
func readULEB128(b []byte) (v uint64, n int, ok bool) {
	var shift uint
	for i, c := range b {
		if i == maxULEB128Size || (i == maxULEB128Size-1 && c > 1) {
			return 0, 0, false
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, true
		}
		shift += 7
	}
	return 0, 0, false
}

// clearRange is an unencrypted byte range of the interleaved media frame.
type clearRange struct {
	offset, size int
}

// maxClearRanges bounds the ranges parsed from one frame; 255 bytes of supplemental data
// cannot hold more than 122 pairs.
const maxClearRanges = 128

// protocolFrame is a parsed DAVE frame. Its slices alias the frame.
type protocolFrame struct {
	media  []byte // the interleaved media frame (clear ranges and ciphertext)
	tag    []byte
	nonce  uint32
	ranges [maxClearRanges]clearRange
	nrange int
}

// errNotProtocolFrame reports a frame that fails the protocol frame check.
var errNotProtocolFrame = errors.New("dave: not a DAVE protocol frame")

// parse runs the protocol frame check (whitepaper "Protocol Frame Check") and splits frame.
func (f *protocolFrame) parse(frame []byte) error {
	n := len(frame)
	if n < minSupplement || frame[n-1] != marker || frame[n-2] != marker {
		return errNotProtocolFrame
	}
	supp := int(frame[n-3])
	if supp < minSupplement || supp > n {
		return errNotProtocolFrame
	}
	f.media = frame[:n-supp]
	f.tag = frame[n-supp : n-supp+tagSize]
	rest := frame[n-supp+tagSize : n-markerSize-1]
	nonce, k, ok := readULEB128(rest)
	if !ok || nonce > 0xFFFFFFFF {
		return errNotProtocolFrame
	}
	f.nonce = uint32(nonce)
	rest = rest[k:]
	f.nrange = 0
	end := 0
	for len(rest) > 0 {
		off, k1, ok1 := readULEB128(rest)
		if !ok1 {
			return errNotProtocolFrame
		}
		size, k2, ok2 := readULEB128(rest[k1:])
		if !ok2 || f.nrange == maxClearRanges {
			return errNotProtocolFrame
		}
		rest = rest[k1+k2:]
		// Ranges ascend, do not overlap and stay inside the media frame.
		if off < uint64(end) || off > uint64(len(f.media)) || size > uint64(len(f.media))-off {
			return errNotProtocolFrame
		}
		f.ranges[f.nrange] = clearRange{offset: int(off), size: int(size)}
		f.nrange++
		end = int(off + size)
	}
	return nil
}

// IsProtocolFrame reports whether frame passes DAVE's protocol frame check: the magic marker,
// a sane supplemental size, a nonce and well-formed unencrypted ranges. A frame that passes
// is treated as encrypted.
func IsProtocolFrame(frame []byte) bool {
	var f protocolFrame
	return f.parse(frame) == nil
}
