package voice

import (
	"encoding/binary"
	"errors"
)

// RTP constants of Discord's voice transport.
const (
	// PayloadTypeOpus is the RTP payload type Discord uses for Opus.
	PayloadTypeOpus = 120
	// PayloadTypeVP8 is the RTP payload type announced for VP8 in Select Protocol.
	PayloadTypeVP8 = 103
	// PayloadTypeVP8RTX is the retransmission payload type announced for VP8 (never sent).
	PayloadTypeVP8RTX = 104
	// PayloadTypeH264 is the RTP payload type announced for H.264 in Select Protocol.
	PayloadTypeH264 = 101
	// PayloadTypeH264RTX is the retransmission payload type announced for H.264 (never sent).
	PayloadTypeH264RTX = 102

	// OpusClockRate is Opus's RTP clock: 48 kHz.
	OpusClockRate = 48000
	// VideoClockRate is the RTP clock of video: 90 kHz.
	VideoClockRate = 90000

	// rtpHeaderSize is the fixed part of an RTP header.
	rtpHeaderSize = 12
	// extensionProfileOneByte is RFC 8285's one-byte header extension profile, which Discord
	// puts on video packets.
	extensionProfileOneByte = 0xBEDE
)

// Errors from parsing RTP packets. Decryption errors wrap them, so errors.Is works on both.
var (
	// ErrShortPacket means a datagram is too short for what its header announces.
	ErrShortPacket = errors.New("voice: packet too short")
	// ErrNotRTP means a datagram is not an RTP version 2 packet.
	ErrNotRTP = errors.New("voice: not an RTP packet")
	// ErrRTCP means a datagram is RTCP (payload types 200-204), which the client ignores.
	ErrRTCP = errors.New("voice: RTCP packet")
	// ErrBadPadding means the P bit is set but the padding length does not fit the payload.
	ErrBadPadding = errors.New("voice: bad RTP padding")
	// ErrBadExtension means the header extension is longer than the packet.
	ErrBadExtension = errors.New("voice: bad RTP header extension")
)

// RTPHeader is the clear part of an RTP packet, parsed by hand: in Discord's *_rtpsize modes the
// header extension's body is encrypted, so a general parser such as pion/rtp's would read
// ciphertext as extension elements.
type RTPHeader struct {
	Padding     bool
	Extension   bool
	Marker      bool
	PayloadType uint8
	Sequence    uint16
	Timestamp   uint32
	SSRC        uint32
	// CSRCCount is the number of contributing sources (the CC field).
	CSRCCount int
	// ExtensionProfile and ExtensionWords come from the extension preamble when Extension is
	// set: the profile (0xBEDE for one-byte elements) and the body's length in 32-bit words.
	ExtensionProfile uint16
	ExtensionWords   int
}

// CSRC returns the i-th contributing source of packet, whose header is h.
func (h *RTPHeader) CSRC(packet []byte, i int) uint32 {
	return binary.BigEndian.Uint32(packet[rtpHeaderSize+4*i:])
}

// ClearLen is how many leading bytes of the packet stay in clear (and are authenticated as
// associated data) in the *_rtpsize modes: the fixed header, the CSRCs and, with X set, the
// 4-byte extension preamble.
func (h *RTPHeader) ClearLen() int {
	n := rtpHeaderSize + 4*h.CSRCCount
	if h.Extension {
		n += 4
	}
	return n
}

// ExtensionBodyLen is the length in bytes of the extension body (0 without an extension).
func (h *RTPHeader) ExtensionBodyLen() int { return 4 * h.ExtensionWords }

// IsRTCP reports whether a datagram is RTCP: version 2 and a second byte (the RTCP packet type)
// of 192 to 223, the range RFC 5761 section 4 keeps apart from RTP (sender and receiver reports,
// 200-204; feedback such as PLI and FIR, 205-206). RTP payload types 64-95 with the marker bit
// set would collide, which is why RFC 5761 forbids them.
func IsRTCP(datagram []byte) bool {
	return len(datagram) >= 2 && datagram[0]>>6 == 2 && datagram[1] >= 192 && datagram[1] <= 223
}

// ParseRTPHeader parses the clear header of an RTP packet: the fixed 12 bytes, CSRCs and the
// extension preamble. It reads nothing past the preamble, so it works on encrypted packets. RTCP
// gives ErrRTCP.
func ParseRTPHeader(packet []byte) (RTPHeader, error) {
	h, err := parseFixedHeader(packet)
	if err != nil {
		return h, err
	}
	n := rtpHeaderSize + 4*h.CSRCCount
	if h.Extension {
		if len(packet) < n+4 {
			return h, ErrShortPacket
		}
		h.ExtensionProfile = binary.BigEndian.Uint16(packet[n:])
		h.ExtensionWords = int(binary.BigEndian.Uint16(packet[n+2:]))
		n += 4
	}
	if len(packet) < n {
		return h, ErrShortPacket
	}
	return h, nil
}

// parseFixedHeader parses the fixed 12 bytes of an RTP header.
func parseFixedHeader(packet []byte) (RTPHeader, error) {
	var h RTPHeader
	if len(packet) < rtpHeaderSize {
		return h, ErrShortPacket
	}
	if packet[0]>>6 != 2 {
		return h, ErrNotRTP
	}
	if IsRTCP(packet) {
		return h, ErrRTCP
	}
	h.Padding = packet[0]&0x20 != 0
	h.Extension = packet[0]&0x10 != 0
	h.CSRCCount = int(packet[0] & 0x0F)
	h.Marker = packet[1]&0x80 != 0
	h.PayloadType = packet[1] & 0x7F
	h.Sequence = binary.BigEndian.Uint16(packet[2:])
	h.Timestamp = binary.BigEndian.Uint32(packet[4:])
	h.SSRC = binary.BigEndian.Uint32(packet[8:])
	return h, nil
}

// stripPadding removes RTP padding from a decrypted payload when the header's P bit is set: the
// last byte says how many bytes (itself included) to drop.
func stripPadding(h *RTPHeader, payload []byte) ([]byte, error) {
	if !h.Padding {
		return payload, nil
	}
	if len(payload) == 0 {
		return nil, ErrBadPadding
	}
	n := int(payload[len(payload)-1])
	if n == 0 || n > len(payload) {
		return nil, ErrBadPadding
	}
	return payload[:len(payload)-n], nil
}

// appendRTPHeader appends a 12-byte RTP header with no CSRCs to dst; with ext non-nil it sets X
// and appends a one-byte-profile (0xBEDE) preamble and ext, which must be a whole number of
// 32-bit words.
func appendRTPHeader(dst []byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32, ext []byte) []byte {
	b0 := byte(0x80)
	if ext != nil {
		b0 |= 0x10
	}
	b1 := pt & 0x7F
	if marker {
		b1 |= 0x80
	}
	dst = append(dst, b0, b1)
	dst = binary.BigEndian.AppendUint16(dst, seq)
	dst = binary.BigEndian.AppendUint32(dst, ts)
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	if ext != nil {
		dst = binary.BigEndian.AppendUint16(dst, extensionProfileOneByte)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(ext)/4))
		dst = append(dst, ext...)
	}
	return dst
}

// videoExtension is the header extension body Discord's clients put on video packets: one
// one-byte element, id 5 (playout delay) with 3 bytes of zero (no added delay), filling one word.
var videoExtension = []byte{5<<4 | 2, 0, 0, 0}
