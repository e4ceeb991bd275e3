package voice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pion/rtp/codecs"
)

// VideoCodec names a video codec as the voice gateway does (op 1 codecs, op 4 video_codec).
type VideoCodec string

// Video codecs the client sends and receives.
const (
	CodecVP8  VideoCodec = "VP8"
	CodecH264 VideoCodec = "H264"
)

// H.264 NAL unit types (ITU-T H.264 table 7-1) the client looks at.
const (
	h264NALSlice  = 1
	h264NALIDR    = 5
	h264NALSEI    = 6
	h264NALSPS    = 7
	h264NALPPS    = 8
	h264NALAUD    = 9
	h264NALFiller = 12
)

// ErrBadH264Frame means an H.264 frame is not an Annex B access unit with a picture.
var ErrBadH264Frame = errors.New("voice: invalid H.264 frame")

// H264FrameInfo is what an H.264 access unit says.
type H264FrameInfo struct {
	// Keyframe is true when the access unit holds an IDR slice.
	Keyframe bool
	// Width and Height come from a sequence parameter set in the access unit (0 without one).
	Width, Height uint16
	// ProfileLevelID is the SPS's profile_idc, constraint flags and level_idc as SDP writes
	// them (e.g. "42c01f"), "" without an SPS.
	ProfileLevelID string
}

// h264NALs calls fn with each NAL unit of an Annex B byte stream (without its start code);
// bytes before the first start code are ignored. It reports whether any start code was found.
func h264NALs(b []byte, fn func(nal []byte)) bool {
	start := bytes.Index(b, []byte{0, 0, 1})
	if start < 0 {
		return false
	}
	start += 3
	for {
		next := bytes.Index(b[start:], []byte{0, 0, 1})
		if next < 0 {
			fn(b[start:])
			return true
		}
		end := start + next
		// A 4-byte start code's leading zero (and trailing_zero_8bits) belong to no NAL unit.
		unitEnd := end
		for unitEnd > start && b[unitEnd-1] == 0 {
			unitEnd--
		}
		fn(b[start:unitEnd])
		start = end + 3
	}
}

// ParseH264Frame reads an H.264 access unit (Annex B): whether it holds an IDR slice and, when
// it carries a sequence parameter set, the picture size and profile.
func ParseH264Frame(frame []byte) (H264FrameInfo, error) {
	var info H264FrameInfo
	var pictures int
	var spsErr error
	found := h264NALs(frame, func(nal []byte) {
		if len(nal) == 0 {
			return
		}
		switch nal[0] & 0x1F {
		case h264NALIDR:
			info.Keyframe = true
			pictures++
		case h264NALSlice:
			pictures++
		case h264NALSPS:
			if info.ProfileLevelID != "" {
				return
			}
			w, h, err := parseH264SPS(nal)
			if err != nil {
				spsErr = err
				return
			}
			info.Width, info.Height = w, h
			info.ProfileLevelID = fmt.Sprintf("%02x%02x%02x", nal[1], nal[2], nal[3])
		}
	})
	switch {
	case !found:
		return info, fmt.Errorf("%w: no start code", ErrBadH264Frame)
	case spsErr != nil:
		return info, spsErr
	case pictures == 0:
		return info, fmt.Errorf("%w: no slice", ErrBadH264Frame)
	}
	return info, nil
}

// bitReader reads the RBSP of a NAL unit (emulation prevention bytes removed) bit by bit.
type bitReader struct {
	b   []byte
	pos int
	err error
}

func (r *bitReader) bit() uint32 {
	if r.pos >= len(r.b)*8 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned Exp-Golomb value.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 && r.err == nil {
		zeros++
		if zeros > 31 {
			r.err = errors.New("exp-golomb value too long")
			return 0
		}
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

func (r *bitReader) se() int32 {
	v := r.ue()
	if v&1 == 1 {
		return int32((v + 1) / 2)
	}
	return -int32(v / 2)
}

// rbsp removes emulation prevention bytes (00 00 03).
func rbsp(nal []byte) []byte {
	out := make([]byte, 0, len(nal))
	zeros := 0
	for _, c := range nal {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// parseH264SPS reads the picture size from a sequence parameter set (H.264 section 7.3.2.1.1).
func parseH264SPS(nal []byte) (width, height uint16, err error) {
	if len(nal) < 4 {
		return 0, 0, fmt.Errorf("%w: SPS of %d bytes", ErrBadH264Frame, len(nal))
	}
	r := &bitReader{b: rbsp(nal[1:])}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level_idc
	r.ue()     // seq_parameter_set_id
	chroma := uint32(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma = r.ue()
		if chroma == 3 {
			r.bit() // separate_colour_plane_flag
		}
		r.ue()  // bit_depth_luma_minus8
		r.ue()  // bit_depth_chroma_minus8
		r.bit() // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 {
			return 0, 0, fmt.Errorf("%w: SPS with scaling matrices", ErrBadH264Frame)
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bit()
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return 0, 0, fmt.Errorf("%w: SPS with %d reference frames in the POC cycle", ErrBadH264Frame, n)
		}
		for range n {
			r.se()
		}
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wmbs := r.ue() + 1
	hmaps := r.ue() + 1
	frameMBsOnly := r.bit()
	if frameMBsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var cl, cr, ct, cb uint32
	if r.bit() == 1 {
		cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return 0, 0, fmt.Errorf("%w: SPS: %v", ErrBadH264Frame, r.err)
	}
	cropX, cropY := uint32(1), 2-frameMBsOnly
	if chroma == 1 || chroma == 2 {
		cropX = 2
	}
	if chroma == 1 {
		cropY *= 2
	}
	w := wmbs*16 - cropX*(cl+cr)
	h := (2-frameMBsOnly)*hmaps*16 - cropY*(ct+cb)
	if w == 0 || h == 0 || w > 16384 || h > 16384 {
		return 0, 0, fmt.Errorf("%w: SPS picture %dx%d", ErrBadH264Frame, w, h)
	}
	return uint16(w), uint16(h), nil
}

// NormalizeH264Frame appends frame to dst as it travels: each NAL unit after a 4-byte start
// code, access unit delimiters, filler data and empty NAL units left out (an RTP packetizer
// drops them, and DAVE's clear ranges must match what the receiver reassembles).
func NormalizeH264Frame(dst, frame []byte) ([]byte, error) {
	n := 0
	found := h264NALs(frame, func(nal []byte) {
		if len(nal) == 0 {
			return
		}
		if t := nal[0] & 0x1F; t == h264NALAUD || t == h264NALFiller {
			return
		}
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, nal...)
		n++
	})
	if !found || n == 0 {
		return dst, fmt.Errorf("%w: no NAL unit", ErrBadH264Frame)
	}
	return dst, nil
}

// maxH264FileSize bounds a file ReadH264File reads whole.
const maxH264FileSize = 64 << 20

// SplitH264AccessUnits cuts an Annex B byte stream into access units (H.264 section 7.4.1.2.3):
// a new one starts at an access unit delimiter, SPS, PPS or SEI, or at a slice whose
// first_mb_in_slice is 0, once the current one holds a slice. Each returned frame is normalized
// (NormalizeH264Frame).
func SplitH264AccessUnits(stream []byte) ([][]byte, error) {
	var frames [][]byte
	var cur []byte
	hasSlice := false
	flush := func() {
		if hasSlice {
			frames = append(frames, cur)
		}
		cur, hasSlice = nil, false
	}
	found := h264NALs(stream, func(nal []byte) {
		if len(nal) == 0 {
			return
		}
		t := nal[0] & 0x1F
		switch {
		case t == h264NALAUD || t == h264NALFiller:
			if t == h264NALAUD && hasSlice {
				flush()
			}
			return
		case t == h264NALSEI || t == h264NALSPS || t == h264NALPPS || (t >= 14 && t <= 18):
			if hasSlice {
				flush()
			}
		case t == h264NALSlice || t == h264NALIDR:
			// first_mb_in_slice is ue(v): 0 is a single 1 bit.
			if hasSlice && len(nal) > 1 && nal[1]&0x80 != 0 {
				flush()
			}
			hasSlice = true
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal...)
	})
	if !found {
		return nil, fmt.Errorf("%w: not an Annex B byte stream (no start code)", ErrBadH264Frame)
	}
	flush()
	if len(frames) == 0 {
		return nil, fmt.Errorf("%w: the stream holds no picture", ErrBadH264Frame)
	}
	return frames, nil
}

// ReadH264File returns the access units of a raw H.264 (Annex B) file, e.g. what
// `ffmpeg -c:v libx264 -f h264` writes, and the picture size of its first SPS. The file holds
// no timing: callers pace the frames themselves (PlayH264 takes a frame rate).
func ReadH264File(path string) (H264FrameInfo, [][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return H264FrameInfo{}, nil, fmt.Errorf("voice: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxH264FileSize+1))
	if err != nil {
		return H264FrameInfo{}, nil, fmt.Errorf("voice: %w", err)
	}
	if len(data) > maxH264FileSize {
		return H264FrameInfo{}, nil, fmt.Errorf("voice: %s is larger than %d bytes", path, maxH264FileSize)
	}
	frames, err := SplitH264AccessUnits(data)
	if err != nil {
		return H264FrameInfo{}, nil, fmt.Errorf("%w (%s)", err, path)
	}
	var info H264FrameInfo
	for _, fr := range frames {
		fi, err := ParseH264Frame(fr)
		if err != nil {
			return H264FrameInfo{}, nil, fmt.Errorf("%w (%s)", err, path)
		}
		if fi.Width != 0 && info.Width == 0 {
			info = fi
		}
	}
	if info.Width == 0 {
		return H264FrameInfo{}, nil, fmt.Errorf("voice: %s has no sequence parameter set", path)
	}
	first, _ := ParseH264Frame(frames[0])
	info.Keyframe = first.Keyframe
	return info, frames, nil
}

// H264Assembler rebuilds H.264 access units (Annex B, 4-byte start codes) from the payloads
// of RTP packets of one sender in sequence order (RFC 6184 single NAL units, STAP-A and FU-A,
// packetization-mode 1). A frame is the packets up to the RTP marker bit; a gap in sequence
// numbers, or a new timestamp before the marker, spoils the frame being built: it is dropped,
// counted, and assembly resumes after the next marker.
type H264Assembler struct {
	// MaxFrameSize bounds a frame being assembled; a larger one is dropped (default 4 MiB).
	MaxFrameSize int
	// Dropped counts frames abandoned because of loss, bad payloads or size.
	Dropped int

	depacketizer codecs.H264Packet
	frame        []byte
	ts           uint32
	building     bool
	skipping     bool // waiting for the marker that ends a spoiled frame
	skipCounted  bool // the frame being skipped is counted in Dropped
	lastSeq      uint16
	haveSeq      bool
}

// Push adds one packet's RTP payload. When the packet completes a frame, Push returns it (valid
// until the next call) with complete true.
func (a *H264Assembler) Push(seq uint16, timestamp uint32, marker bool, payload []byte) (frame []byte, complete bool) {
	if a.haveSeq && seq != a.lastSeq+1 && (a.building || !a.skipping) {
		a.abandon()
	}
	a.lastSeq, a.haveSeq = seq, true
	if a.building && timestamp != a.ts {
		a.abandon() // the previous frame lost its end, this packet starts another
		a.skipping = false
	}
	if a.skipping {
		if !a.skipCounted {
			a.Dropped++ // a frame whose start may have been lost
			a.skipCounted = true
		}
		if marker {
			a.skipping = false
		}
		return nil, false
	}
	if !a.building {
		a.building, a.ts = true, timestamp
		a.frame = a.frame[:0]
		a.depacketizer = codecs.H264Packet{}
	}
	data, err := a.depacketizer.Unmarshal(payload)
	if err != nil {
		a.abandon()
		if marker {
			a.skipping = false
		}
		return nil, false
	}
	limit := a.MaxFrameSize
	if limit <= 0 {
		limit = 4 << 20
	}
	if len(a.frame)+len(data) > limit {
		a.abandon()
		if marker {
			a.skipping = false
		}
		return nil, false
	}
	a.frame = append(a.frame, data...)
	if !marker {
		return nil, false
	}
	a.building = false
	if len(a.frame) == 0 {
		a.Dropped++ // the marker came inside an unfinished fragmentation unit
		return nil, false
	}
	return a.frame, true
}

// Lost tells the assembler that packets were lost before the next one.
func (a *H264Assembler) Lost() {
	if a.building {
		a.abandon()
	} else if !a.skipping {
		// The lost packets may have begun the next frame.
		a.skipping, a.skipCounted = true, false
	}
}

func (a *H264Assembler) abandon() {
	a.skipCounted = a.building
	if a.building {
		a.Dropped++
	}
	a.building, a.skipping = false, true
	a.frame = a.frame[:0]
}
