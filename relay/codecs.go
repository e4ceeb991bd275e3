package relay

import (
	"strings"

	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Camera codecs, as Discord's members send them: VP8, or H.264.
const (
	codecVP8  = "VP8"
	codecH264 = "H264"
)

// h264Capability is the H.264 the relay forwards: packetization-mode 1 (FU-A and STAP-A, what
// Discord's and the voice package's payloaders send) under the constrained baseline profile
// every WebRTC browser offers; level-asymmetry-allowed lets a browser decode any level.
func h264Capability() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}},
	}
}

// offerH264 reports whether an offer's H.264 format can take the relay's: packetization-mode
// 1 and a profile that decodes constrained baseline (RFC 6184 table 5): profile_idc 42
// (baseline, constrained or not), or 4d (main) with constraint_set0_flag.
func offerH264(fmtp string) bool {
	mode1, baseline := false, false
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode1 = v == "1"
		case "profile-level-id":
			if len(v) == 6 {
				p := strings.ToLower(v[:2])
				baseline = p == "42" || (p == "4d" && hexByte(v[2:4])&0x80 != 0)
			}
		}
	}
	return mode1 && baseline
}

func hexByte(s string) byte {
	var b byte
	for _, c := range strings.ToLower(s) {
		b <<= 4
		switch {
		case c >= '0' && c <= '9':
			b |= byte(c - '0')
		case c >= 'a' && c <= 'f':
			b |= byte(c-'a') + 10
		}
	}
	return b
}

// offerCodecs says which camera codecs an offer's receiving video sections take.
type offerCodecs struct{ vp8, h264 bool }

func (o offerCodecs) any() bool { return o.vp8 || o.h264 }

func (o offerCodecs) has(codec string) bool {
	if codec == codecH264 {
		return o.h264
	}
	return o.vp8
}

// note notes the codec of one video format of an offer.
func (o *offerCodecs) note(codec sdp.Codec) {
	switch {
	case strings.EqualFold(codec.Name, "VP8"):
		o.vp8 = true
	case strings.EqualFold(codec.Name, "H264") && offerH264(codec.Fmtp):
		o.h264 = true
	}
}

// WriteH264 queues one H.264 access unit (Annex B) of userID's camera (timestamp at 90 kHz) for
// its viewers, as WriteVideo does a VP8 frame.
func (rm *Room) WriteH264(userID string, timestamp uint32, frame []byte) {
	rm.enqueue(userID, media{video: true, h264: true, timestamp: timestamp, data: append([]byte(nil), frame...), at: time.Now()})
}

// noteCodec records the camera's codec; when it changes (the camera's first frame, or a switch
// between VP8 and H.264), the member's viewers are moved to the new codec's track. Called by
// the writer goroutine.
func (m *member) noteCodec(h264 bool) {
	codec := codecVP8
	if h264 {
		codec = codecH264
	}
	m.mu.Lock()
	changed := m.codec != codec
	m.codec = codec
	m.mu.Unlock()
	if changed {
		m.rm.r.switchCodec(m.rm.id, m.userID, codec)
	}
}

// cameraCodec is the member's camera codec ("" before its first frame).
func (m *member) cameraCodec() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.codec
}

func (m *member) track(codec string) *webrtc.TrackLocalStaticRTP {
	if codec == codecH264 {
		return m.h264
	}
	return m.video
}

// switchCodec moves the viewers of a member to codec's track.
func (r *Relay) switchCodec(roomID, memberID, codec string) {
	r.mu.Lock()
	var sessions []*Session
	for _, s := range r.sessions {
		if s.RoomID == roomID && s.MemberID == memberID && s.Source == "" { // not the member's published sources
			sessions = append(sessions, s)
		}
	}
	r.mu.Unlock()
	for _, s := range sessions {
		s.useCodec(codec)
	}
}

// useCodec sends the session the member's camera in codec, if its offer took that codec; a
// session that cannot decode the camera's codec keeps its voice, and the page shows the
// member's camera as not available to the table.
func (s *Session) useCodec(codec string) {
	s.videoMu.Lock()
	defer s.videoMu.Unlock()
	if s.videoSender == nil || s.videoCodec == codec {
		return
	}
	if !s.codecs.has(codec) {
		if !s.warned {
			s.warned = true
			s.r.cfg.Logger.Info("relay: the viewer's browser cannot receive the member's camera codec", "session", s.ID, "room", s.RoomID, "member", s.MemberID, "codec", codec)
		}
		return
	}
	if err := s.videoSender.ReplaceTrack(s.member.track(codec)); err != nil {
		s.r.cfg.Logger.Warn("relay: switching a viewer's video codec", "session", s.ID, "codec", codec, "error", err)
		return
	}
	s.videoCodec = codec
	s.room.askKeyframe(s.MemberID)
}

// VideoCodec is the camera codec the session sends ("VP8" or "H264"; "" without video).
func (s *Session) VideoCodec() string {
	s.videoMu.Lock()
	defer s.videoMu.Unlock()
	return s.videoCodec
}

// keyframe reports whether a video item is a keyframe: a VP8 frame whose first byte's lowest bit
// is clear (RFC 6386 section 9.1), an H.264 access unit holding an IDR slice (NAL unit type 5).
func (it media) keyframe() bool {
	if !it.h264 {
		return len(it.data) > 0 && it.data[0]&0x01 == 0
	}
	b := it.data
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if b[i+3]&0x1f == 5 {
				return true
			}
			i += 2
		}
	}
	return false
}
