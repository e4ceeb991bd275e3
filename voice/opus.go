package voice

import (
	"errors"
	"fmt"
)

// silenceFrame is the Opus frame Discord expects five times before a sender pauses, so that
// receivers' decoders interpolate to silence instead of repeating the last sound.
var silenceFrame = []byte{0xF8, 0xFF, 0xFE}

// SilenceFrame returns a copy of the 3-byte Opus silence frame (F8 FF FE).
func SilenceFrame() []byte { return append([]byte(nil), silenceFrame...) }

// ErrBadOpusPacket means an Opus packet's table-of-contents byte or frame count is invalid.
var ErrBadOpusPacket = errors.New("voice: invalid Opus packet")

// maxOpusPacketSamples is 120 ms at 48 kHz, the longest packet RFC 6716 allows.
const maxOpusPacketSamples = 5760

// OpusPacketSamples returns how many 48 kHz samples (per channel) an Opus packet holds, from
// its table-of-contents byte and frame count code (RFC 6716 section 3.1). The sender advances
// the RTP timestamp and its schedule by this much.
func OpusPacketSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty", ErrBadOpusPacket)
	}
	toc := packet[0]
	config := toc >> 3
	var frame int // samples per frame at 48 kHz
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[config&3]
	case config < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[config&3]
	}
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without a frame count", ErrBadOpusPacket)
		}
		frames = int(packet[1] & 0x3F)
		if frames == 0 {
			return 0, fmt.Errorf("%w: zero frames", ErrBadOpusPacket)
		}
	}
	n := frames * frame
	if n > maxOpusPacketSamples {
		return 0, fmt.Errorf("%w: %d samples is longer than 120 ms", ErrBadOpusPacket, n)
	}
	return n, nil
}
