package dave

import (
	"errors"
	"fmt"
)

// H.264 frames (Annex B byte stream, one access unit) keep in the clear what the packetizer and
// depacketizer read (whitepaper "Codec Handling", as libdave does it):
//
//   - every start code, written as the 4-byte 00 00 00 01 since that is what an RTP
//     depacketizer puts back: the frame a receiver reassembles is then the frame that was
//     encrypted, byte for byte. Bytes before the first start code are dropped.
//   - non-VCL NAL units (SPS, PPS, SEI, ...) whole;
//   - of a slice (NAL types 1 and 5), the NAL header and the bytes covering the first three
//     Exp-Golomb values of the slice header (first_mb_in_slice, slice_type,
//     pic_parameter_set_id); the rest of the slice is encrypted.
//
// The ciphertext must not contain a start code (00 00 01), which would split a NAL unit when the
// frame is packetized: the encryptor checks and encrypts again under the next nonce, up to
// maxValidationRetries times.
const (
	h264NALTypeMask       = 0x1F
	h264NALSlice          = 1
	h264NALIDR            = 5
	h264NALHeaderSize     = 1
	maxValidationRetries  = 10
	h264StartCodeLong     = "\x00\x00\x00\x01"
	h264StartCodeShort    = 3
	maxExpGolombZeroCount = 32
)

// ErrBadH264Frame means an H.264 frame is not an Annex B access unit.
var ErrBadH264Frame = errors.New("dave: H.264 frame has no Annex B start code")

// errStartCodeInCiphertext means every retry produced a start code in the ciphertext.
var errStartCodeInCiphertext = errors.New("dave: H.264 ciphertext kept containing a start code")

// nextH264NAL finds the next start code at or after from: it returns the index of the NAL unit
// after it and the start code's size (3 or 4), or ok false.
func nextH264NAL(b []byte, from int) (nal, size int, ok bool) {
	for i := from; i+h264StartCodeShort < len(b); {
		switch {
		case b[i+2] > 1:
			i += 3
		case b[i+2] == 1:
			if b[i] == 0 && b[i+1] == 0 {
				if i >= 1 && b[i-1] == 0 {
					return i + 3, 4, true
				}
				return i + 3, 3, true
			}
			i += 3
		default:
			i++
		}
	}
	return 0, 0, false
}

// h264SliceHeaderClear returns how many bytes of a slice's payload (after the NAL header) cover
// its first three Exp-Golomb values, skipping emulation prevention bytes; 0 if they do not fit.
func h264SliceHeaderClear(p []byte) int {
	bit, zeros, values := 0, 0, 0
	for bit < len(p)*8 && values < 3 {
		byteIdx, bitIdx := bit/8, bit%8
		if bitIdx == 0 && byteIdx >= 2 && p[byteIdx] == 0x03 && p[byteIdx-1] == 0 && p[byteIdx-2] == 0 {
			bit += 8
			continue
		}
		if p[byteIdx]&(0x80>>bitIdx) == 0 {
			zeros++
			bit++
			if zeros >= maxExpGolombZeroCount {
				return 0
			}
			continue
		}
		values++
		bit += 1 + zeros
		zeros = 0
	}
	if values < 3 {
		return 0
	}
	return bit/8 + 1
}

// h264Layout appends frame, with its start codes made long, to media and the clear ranges of the
// result to ranges (adjacent ones merged).
func h264Layout(media []byte, ranges []clearRange, frame []byte) ([]byte, []clearRange, error) {
	nal, _, ok := nextH264NAL(frame, 0)
	if !ok {
		return media, ranges, ErrBadH264Frame
	}
	base := len(media)
	addClear := func(b []byte) {
		off := len(media) - base
		if n := len(ranges); n > 0 && ranges[n-1].offset+ranges[n-1].size == off {
			ranges[n-1].size += len(b)
		} else {
			ranges = append(ranges, clearRange{offset: off, size: len(b)})
		}
		media = append(media, b...)
	}
	for {
		next, size, more := nextH264NAL(frame, nal)
		end := len(frame)
		if more {
			end = next - size
		}
		unit := frame[nal:end]
		if len(unit) == 0 {
			// Nothing between two start codes: a packetizer sends nothing for it either.
		} else if t := unit[0] & h264NALTypeMask; t == h264NALSlice || t == h264NALIDR {
			addClear([]byte(h264StartCodeLong))
			n := h264SliceHeaderClear(unit[h264NALHeaderSize:])
			if n == 0 || h264NALHeaderSize+n >= len(unit) {
				addClear(unit)
			} else {
				addClear(unit[:h264NALHeaderSize+n])
				media = append(media, unit[h264NALHeaderSize+n:]...)
			}
		} else {
			addClear([]byte(h264StartCodeLong))
			addClear(unit)
		}
		if !more {
			break
		}
		nal = next
	}
	return media, ranges, nil
}

// h264CiphertextValid reports whether no start code appears in or around the encrypted parts of
// out (the media frame at out[base:base+mediaLen], then its supplemental data): two bytes of
// neighbouring clear data are included on each side, as a start code could straddle the edge.
func h264CiphertextValid(out []byte, ranges []clearRange) bool {
	const pad = h264StartCodeShort - 1
	section := 0
	check := func(from, to int) bool {
		from = max(from-pad, 0)
		to = min(to+pad, len(out))
		_, _, found := nextH264NAL(out[from:to], 0)
		return !found
	}
	for _, r := range ranges {
		if r.offset > section && !check(section, r.offset) {
			return false
		}
		section = r.offset + r.size
	}
	// The last encrypted section and the supplemental data, which follows the media.
	return check(section, len(out))
}

// encryptH264 lays frame out and appends its protocol frame to dst, retrying under new nonces
// while a start code shows in the ciphertext. e.mu is held.
func (e *FrameEncryptor) encryptH264(dst, frame []byte) ([]byte, error) {
	var err error
	e.media, e.ranges, err = h264Layout(e.media[:0], e.ranges[:0], frame)
	if err != nil {
		return dst, err
	}
	e.aad, e.plain = e.aad[:0], e.plain[:0]
	pos := 0
	for _, r := range e.ranges {
		e.plain = append(e.plain, e.media[pos:r.offset]...)
		e.aad = append(e.aad, e.media[r.offset:r.offset+r.size]...)
		pos = r.offset + r.size
	}
	e.plain = append(e.plain, e.media[pos:]...)
	for range maxValidationRetries {
		if err := e.advance(); err != nil {
			return dst, err
		}
		e.sealed = e.cipher.seal(e.sealed[:0], e.nonce, e.plain, e.aad)
		ct, tag := e.sealed[:len(e.plain)], e.sealed[len(e.plain):]
		start := len(dst)
		out := append(dst, make([]byte, 0, len(e.media)+tagSize+maxULEB128Size*(1+2*len(e.ranges))+3)...)
		pos, p := 0, 0
		for _, r := range e.ranges {
			n := r.offset - pos
			out = append(out, ct[p:p+n]...)
			out = append(out, e.media[r.offset:r.offset+r.size]...)
			p += n
			pos = r.offset + r.size
		}
		out = append(out, ct[p:]...)
		suppStart := len(out)
		out = append(out, tag...)
		out = appendULEB128(out, uint64(e.nonce))
		for _, r := range e.ranges {
			out = appendULEB128(out, uint64(r.offset))
			out = appendULEB128(out, uint64(r.size))
		}
		supp := len(out) - suppStart + 1 + markerSize
		if supp > maxSupplement {
			return dst, fmt.Errorf("dave: H.264 frame has too many NAL units (%d clear ranges) for the supplemental data", len(e.ranges))
		}
		out = append(out, byte(supp), marker, marker)
		if h264CiphertextValid(out[start:], e.ranges) {
			return out, nil
		}
		dst = out[:start]
	}
	return dst, errStartCodeInCiphertext
}
