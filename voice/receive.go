package voice

import (
	"errors"
	"net"
	"time"
)

// maxReceiveStreams bounds the senders tracked at once, so a flood of SSRCs cannot grow memory.
const maxReceiveStreams = 256

// recvStream is one sender's SSRC on the receive side: its jitter buffer, its user, and for
// video the frame assembler.
type recvStream struct {
	m       *mediaSession
	ssrc    uint32
	kind    MediaKind
	jb      *JitterBuffer
	userID  string
	userVer uint64
	codec   VideoCodec // of a video stream, by payload type; a sender may switch
	vp8     VP8Assembler
	h264    H264Assembler
	decBuf  []byte
	audio   AudioFrame
	video   VideoFrame

	// Packets of an SSRC no event has mapped to a user yet wait (copied) for the mapping, which
	// travels over the WebSocket and may arrive after the first packets, for up to
	// Config.UnmappedGrace from the stream's first packet.
	created  time.Time
	graceEnd bool
	held     []BufferedPacket
}

// receiveLoop reads the UDP socket until it closes: it decrypts RTP, ignores RTCP and
// keepalive echoes, and feeds each sender's jitter buffer, which releases packets in order to
// the MediaHandler. Nothing here allocates per packet once a sender's stream exists.
func (m *mediaSession) receiveLoop() {
	defer m.wg.Done()
	c := m.c
	buf := make([]byte, c.cfg.MaxPacketSize+1)
	plain := make([]byte, 0, c.cfg.MaxPacketSize)
	streams := make(map[uint32]*recvStream)
	defer func() {
		for _, st := range streams {
			st.jb.Flush()
			st.graceEnd = true
			for i := range st.held {
				st.deliver(&st.held[i])
			}
		}
	}()
	seenUsers := c.usersVersion.Load()
	for {
		deadline := nextDeadline(streams)
		if d := m.heldDeadline(streams); !d.IsZero() && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
		_ = m.udp.SetReadDeadline(deadline)
		if v := c.usersVersion.Load(); v != seenUsers {
			seenUsers = v
			m.releaseHeld(streams, time.Now())
			m.dropDeparted(streams)
		}
		n, err := m.udp.Read(buf)
		now := time.Now()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				for _, st := range streams {
					st.jb.Tick(now)
				}
				m.releaseHeld(streams, now)
				continue
			}
			return // closed
		}
		for _, st := range streams {
			st.jb.Tick(now)
		}
		if n > c.cfg.MaxPacketSize {
			c.stats.dropped.Add(1)
			continue
		}
		m.handleDatagram(buf[:n], plain, streams, now)
	}
}

// handleDatagram decrypts one datagram and feeds its sender's jitter buffer.
func (m *mediaSession) handleDatagram(packet, plain []byte, streams map[uint32]*recvStream, now time.Time) {
	c := m.c
	if len(packet) < rtpHeaderSize || packet[0]>>6 != 2 {
		return // a keepalive echo (8 bytes) or a late discovery answer (type 2: 0x00)
	}
	if IsRTCP(packet) {
		c.stats.rtcp.Add(1)
		return
	}
	p, err := m.opener.Open(plain, packet)
	if err != nil {
		c.stats.undecryptable.Add(1)
		return
	}
	c.stats.received.Add(1)
	st := streams[p.SSRC]
	if st == nil {
		if st = m.newStream(p.SSRC, p.PayloadType, len(streams)); st == nil {
			c.stats.dropped.Add(1)
			return
		}
		streams[p.SSRC] = st
	}
	st.jb.Push(&p.RTPHeader, p.Payload, now)
}

// releaseHeld hands on held packets once their stream's user is known or the grace is over.
func (m *mediaSession) releaseHeld(streams map[uint32]*recvStream, now time.Time) {
	for _, st := range streams {
		if st.graceEnd {
			continue
		}
		st.refreshUser()
		if st.userID == "" && now.Sub(st.created) < m.c.cfg.UnmappedGrace {
			continue
		}
		st.graceEnd = true
		for i := range st.held {
			st.deliver(&st.held[i])
		}
		st.held = nil
	}
}

// heldDeadline is when the oldest stream still waiting for its user stops waiting.
func (m *mediaSession) heldDeadline(streams map[uint32]*recvStream) time.Time {
	var next time.Time
	for _, st := range streams {
		if !st.graceEnd {
			if d := st.created.Add(m.c.cfg.UnmappedGrace); next.IsZero() || d.Before(next) {
				next = d
			}
		}
	}
	return next
}

// newStream starts tracking a sender, by the payload type of its first packet. Packets of
// other payload types (RTX, unknown codecs) and senders past the limit are dropped.
func (m *mediaSession) newStream(ssrc uint32, pt uint8, count int) *recvStream {
	var kind MediaKind
	codec := videoCodecOf(pt)
	switch {
	case pt == PayloadTypeOpus:
		kind = MediaAudio
	case codec != "":
		kind = MediaVideo
	default:
		return nil
	}
	if count >= maxReceiveStreams {
		return nil
	}
	st := &recvStream{m: m, ssrc: ssrc, kind: kind, codec: codec, created: time.Now()}
	st.vp8.MaxFrameSize = 4 << 20
	st.h264.MaxFrameSize = 4 << 20
	jb, err := NewJitterBuffer(m.c.cfg.Jitter, st.release)
	if err != nil {
		return nil // the config was validated by Dial
	}
	st.jb = jb
	return st
}

// videoCodecOf maps a video payload type of op 1's codec list to its codec ("" for others,
// RTX among them).
func videoCodecOf(pt uint8) VideoCodec {
	switch pt {
	case PayloadTypeVP8:
		return CodecVP8
	case PayloadTypeH264:
		return CodecH264
	}
	return ""
}

// dropDeparted flushes and forgets the streams of users who left (op 13).
func (m *mediaSession) dropDeparted(streams map[uint32]*recvStream) {
	for ssrc, st := range streams {
		if st.userID != "" && !m.c.ssrcKnown(ssrc) {
			st.jb.Flush()
			delete(streams, ssrc)
		}
	}
}

func nextDeadline(streams map[uint32]*recvStream) time.Time {
	var next time.Time
	for _, st := range streams {
		if d := st.jb.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

// refreshUser looks the stream's user up again when the SSRC mapping changed.
func (st *recvStream) refreshUser() {
	c := st.m.c
	if v := c.usersVersion.Load(); v != st.userVer || st.userID == "" {
		st.userVer = v
		st.userID = c.userForSSRC(st.ssrc)
	}
}

// release receives packets in order from the jitter buffer: they wait while the stream's user
// is unknown (within the grace), then go to deliver.
func (st *recvStream) release(p *BufferedPacket) {
	if !st.graceEnd {
		st.refreshUser()
		if st.userID == "" && time.Since(st.created) < st.m.c.cfg.UnmappedGrace {
			held := *p
			held.Payload = append([]byte(nil), p.Payload...)
			st.held = append(st.held, held)
			return
		}
		st.graceEnd = true
		for i := range st.held {
			st.deliver(&st.held[i])
		}
		st.held = nil
	}
	st.deliver(p)
}

// deliver hands one packet's media to the handler: audio at once, video once a frame is whole.
func (st *recvStream) deliver(p *BufferedPacket) {
	c := st.m.c
	st.refreshUser()
	h := c.cfg.Media
	switch st.kind {
	case MediaAudio:
		frame := p.Payload
		if dec := c.cfg.FrameDecryptor; dec != nil && !isSilence(frame) {
			out, err := dec.DecryptFrame(MediaAudio, st.userID, st.decBuf[:0], frame)
			if err != nil {
				c.stats.undecryptable.Add(1)
				c.log.Debug("voice: frame decryption failed", "kind", "audio", "user_id", st.userID, "ssrc", st.ssrc, "sequence", p.Sequence, "error", err)
				return
			}
			st.decBuf, frame = out, out
		}
		if h == nil {
			return
		}
		st.audio = AudioFrame{UserID: st.userID, SSRC: st.ssrc, Sequence: p.Sequence, Timestamp: p.Timestamp, Opus: frame, LostBefore: p.LostBefore}
		h.HandleAudio(&st.audio)
	case MediaVideo:
		codec := videoCodecOf(p.PayloadType)
		if codec == "" {
			return // RTX or a codec not offered
		}
		if codec != st.codec {
			// The sender switched codecs: a frame under way in the old one is lost.
			st.vp8.Lost()
			st.h264.Lost()
			st.codec = codec
		}
		var frame []byte
		var ok bool
		kind := MediaVideo
		if codec == CodecH264 {
			kind = MediaVideoH264
			if p.LostBefore > 0 {
				st.h264.Lost()
			}
			frame, ok = st.h264.Push(p.Sequence, p.Timestamp, p.Marker, p.Payload)
		} else {
			if p.LostBefore > 0 {
				st.vp8.Lost()
			}
			frame, ok = st.vp8.Push(p.Sequence, p.Marker, p.Payload)
		}
		if !ok {
			return
		}
		if dec := c.cfg.FrameDecryptor; dec != nil {
			out, err := dec.DecryptFrame(kind, st.userID, st.decBuf[:0], frame)
			if err != nil {
				c.stats.undecryptable.Add(1)
				c.log.Debug("voice: frame decryption failed", "kind", "video", "user_id", st.userID, "ssrc", st.ssrc, "timestamp", p.Timestamp, "error", err)
				return
			}
			st.decBuf, frame = out, out
		}
		if h == nil {
			return
		}
		keyframe := false
		if codec == CodecH264 {
			info, _ := ParseH264Frame(frame)
			keyframe = info.Keyframe
		} else {
			info, _ := ParseVP8Frame(frame)
			keyframe = info.Keyframe
		}
		st.video = VideoFrame{UserID: st.userID, SSRC: st.ssrc, Codec: codec, Timestamp: p.Timestamp, Keyframe: keyframe, Frame: frame}
		h.HandleVideo(&st.video)
	}
}

func isSilence(frame []byte) bool {
	return len(frame) == 3 && frame[0] == 0xF8 && frame[1] == 0xFF && frame[2] == 0xFE
}
