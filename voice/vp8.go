package voice

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp/codecs"
)

// VP8FrameInfo is what a VP8 frame header says (RFC 6386 section 9.1).
type VP8FrameInfo struct {
	Keyframe bool
	// Width and Height are known on keyframes only.
	Width, Height uint16
}

// ErrBadVP8Frame means a VP8 frame's header is invalid.
var ErrBadVP8Frame = errors.New("voice: invalid VP8 frame")

// ParseVP8Frame reads a VP8 frame's tag and, on keyframes, its start code and dimensions.
func ParseVP8Frame(frame []byte) (VP8FrameInfo, error) {
	var info VP8FrameInfo
	if len(frame) < 3 {
		return info, fmt.Errorf("%w: %d bytes", ErrBadVP8Frame, len(frame))
	}
	info.Keyframe = frame[0]&1 == 0
	if !info.Keyframe {
		return info, nil
	}
	if len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return info, fmt.Errorf("%w: keyframe without start code", ErrBadVP8Frame)
	}
	info.Width = binary.LittleEndian.Uint16(frame[6:]) & 0x3FFF
	info.Height = binary.LittleEndian.Uint16(frame[8:]) & 0x3FFF
	return info, nil
}

// VP8Assembler rebuilds VP8 frames from the payloads of RTP packets of one sender, in sequence
// order (the jitter buffer's output). A frame starts at a packet whose descriptor has S=1 and
// partition index 0 and ends at the RTP marker bit. A gap in sequence numbers spoils the frame
// being built: it is dropped, counted, and assembly resumes at the next frame start.
type VP8Assembler struct {
	// MaxFrameSize bounds a frame being assembled; a larger one is dropped (default 4 MiB).
	MaxFrameSize int

	depacketizer codecs.VP8Packet
	frame        []byte
	building     bool
	skipping     bool // inside a frame already counted as dropped
	lastSeq      uint16
	haveSeq      bool
	// Dropped counts frames abandoned because of loss, bad descriptors or size.
	Dropped int
}

// Push adds one packet's RTP payload. When the packet completes a frame, Push returns it (valid
// until the next call) with complete true.
func (a *VP8Assembler) Push(seq uint16, marker bool, payload []byte) (frame []byte, complete bool) {
	if a.haveSeq && seq != a.lastSeq+1 && a.building {
		a.abandon()
	}
	a.lastSeq, a.haveSeq = seq, true
	data, err := a.depacketizer.Unmarshal(payload)
	if err != nil {
		if a.building {
			a.abandon()
		}
		return nil, false
	}
	if a.depacketizer.S == 1 && a.depacketizer.PID == 0 {
		if a.building {
			// A new frame began before the previous one's marker: that one lost its end.
			a.abandon()
		}
		a.building, a.skipping = true, false
		a.frame = a.frame[:0]
	}
	if !a.building {
		if !a.skipping {
			// The rest of a frame whose start was lost.
			a.skipping = true
			a.Dropped++
		}
		return nil, false
	}
	limit := a.MaxFrameSize
	if limit <= 0 {
		limit = 4 << 20
	}
	if len(a.frame)+len(data) > limit {
		a.abandon()
		return nil, false
	}
	a.frame = append(a.frame, data...)
	if !marker {
		return nil, false
	}
	a.building = false
	return a.frame, true
}

// Lost tells the assembler that packets were lost before the next one: the frame being built
// is abandoned.
func (a *VP8Assembler) Lost() {
	if a.building {
		a.abandon()
	}
}

func (a *VP8Assembler) abandon() {
	a.building, a.skipping = false, true
	a.frame = a.frame[:0]
	a.Dropped++
}
