package voiceserver

import (
	"encoding/binary"
	"net"
	"slices"
	"time"

	"github.com/pion/rtcp"
	"github.com/spellcoven/gateway/voice"
)

// ReceivedPacket is an RTP packet the bot sent, decrypted, as the server received it.
type ReceivedPacket struct {
	SSRC        uint32
	Sequence    uint16
	Timestamp   uint32
	PayloadType uint8
	Marker      bool
	// ExtensionProfile and ExtensionBody are the header extension (0 and nil without one).
	ExtensionProfile uint16
	ExtensionBody    []byte
	Payload          []byte
	Mode             string
	At               time.Time
}

// udpLoop serves the media socket: IP discovery, keepalive echoes, and the bot's RTP, which is
// decrypted with its session's key and recorded per SSRC.
func (s *Server) udpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	plain := make([]byte, 0, 2048)
	for {
		n, from, err := s.udp.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		now := time.Now()
		packet := buf[:n]
		s.mu.Lock()
		if s.faults.dropInbound {
			s.counters.DroppedUDP++
			s.mu.Unlock()
			continue
		}
		switch {
		case n == 74 && binary.BigEndian.Uint16(packet) == 1:
			s.discoveryLocked(packet, from)
		case n == 8:
			s.counters.Keepalives++
			s.writeToLocked(packet, from)
		case voice.IsRTCP(packet):
			s.counters.RTCP++
			s.rtcpLocked(packet)
		default:
			s.recordLocked(packet, plain, now)
		}
		s.mu.Unlock()
	}
}

// discoveryLocked answers an IP discovery request with the address and port the request came
// from: type 2, length 70, the SSRC, the address NUL-padded to 64 bytes, the port.
func (s *Server) discoveryLocked(req []byte, from *net.UDPAddr) {
	if binary.BigEndian.Uint16(req[2:]) != 70 {
		return
	}
	resp := make([]byte, 74)
	binary.BigEndian.PutUint16(resp, 2)
	binary.BigEndian.PutUint16(resp[2:], 70)
	copy(resp[4:8], req[4:8])
	copy(resp[8:72], from.IP.String())
	binary.BigEndian.PutUint16(resp[72:], uint16(from.Port))
	s.counters.Discoveries++
	s.writeToLocked(resp, from)
}

func (s *Server) writeToLocked(b []byte, to *net.UDPAddr) {
	if s.faults.dropOutbound {
		s.counters.DroppedUDP++
		return
	}
	_, _ = s.udp.WriteToUDP(b, to)
}

func (s *Server) recordLocked(packet, plain []byte, now time.Time) {
	h, err := voice.ParseRTPHeader(packet)
	if err != nil {
		s.counters.Undecryptable++
		return
	}
	sess := s.bySSRC[h.SSRC]
	if sess == nil || sess.opener == nil {
		s.counters.Undecryptable++
		return
	}
	p, err := sess.opener.Open(plain, packet)
	if err != nil {
		s.counters.Undecryptable++
		return
	}
	s.relayLocked(sess, p)
	if len(s.recorded[h.SSRC]) >= s.cfg.MaxRecordedPackets {
		return
	}
	s.recorded[h.SSRC] = append(s.recorded[h.SSRC], ReceivedPacket{
		SSRC: p.SSRC, Sequence: p.Sequence, Timestamp: p.Timestamp, PayloadType: p.PayloadType,
		Marker: p.Marker, ExtensionProfile: p.ExtensionProfile, ExtensionBody: slices.Clone(p.ExtensionBody),
		Payload: slices.Clone(p.Payload), Mode: sess.mode, At: now,
	})
}

// Received returns the packets recorded from an SSRC, in arrival order.
func (s *Server) Received(ssrc uint32) []ReceivedPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recorded[ssrc])
}

// Counters returns the server's totals.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// relayLocked forwards a bot's packet to the other bots in its call that set up media, sealed
// with each one's key, as Discord's media server does.
func (s *Server) relayLocked(from *session, p voice.Packet) {
	var ext []byte // only one-byte header extensions (0xBEDE), which Discord clients send
	if p.ExtensionProfile == 0xBEDE {
		ext = p.ExtensionBody
	}
	for _, to := range s.sessionsInCallLocked(from.guildID, from.channelID) {
		if to == from || to.botAddr == nil || to.sealer == nil {
			continue
		}
		pt := p.PayloadType
		if p.SSRC == from.videoSSRC {
			if !to.wantsVideoLocked(p.SSRC) {
				s.counters.VideoWithheld++
				continue
			}
			// The receiver's payload type for the sender's codec; none: it cannot decode it.
			toPT, ok := to.videoPTs[videoCodecOfPT(from.videoPTs, p.PayloadType)]
			if !ok {
				s.counters.VideoWithheld++
				continue
			}
			pt = toPT
		}
		header := rtpHeader(p.Marker, pt, p.Sequence, p.Timestamp, p.SSRC, ext)
		to.sendMu.Lock()
		packet, err := to.sealer.Seal(nil, header, p.Payload)
		to.sendMu.Unlock()
		if err != nil {
			s.log.Error("voiceserver: relay seal", "error", err)
			continue
		}
		s.writeToLocked(packet, to.botAddr)
	}
}

// rtcpLocked reads a bot's RTCP, sealed with its session's key: a picture loss indication or
// full intra request about an emulated user's video makes that user send a keyframe next.
func (s *Server) rtcpLocked(packet []byte) {
	if len(packet) < 8 {
		return
	}
	sess := s.bySSRC[binary.BigEndian.Uint32(packet[4:8])]
	if sess == nil || sess.opener == nil {
		s.counters.Undecryptable++
		return
	}
	plain, err := sess.opener.OpenRTCP(nil, packet)
	if err != nil {
		s.counters.Undecryptable++
		return
	}
	packets, err := rtcp.Unmarshal(plain)
	if err != nil {
		return
	}
	for _, p := range packets {
		var media []uint32
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			media = []uint32{p.MediaSSRC}
		case *rtcp.FullIntraRequest:
			for _, e := range p.FIR {
				media = append(media, e.SSRC)
			}
		}
		for _, ssrc := range media {
			for _, u := range s.calls[grantKey(sess.guildID, sess.channelID)] {
				if u.VideoSSRC == ssrc {
					s.counters.KeyframeRequests++
					u.keyframeWanted.Store(true)
				}
			}
		}
	}
}
