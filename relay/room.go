package relay

import (
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// VideoMTU is the largest RTP payload the relay sends a viewer: small enough for any path that
// carries DTLS-SRTP over UDP or TURN.
const VideoMTU = 1150

// Room holds the tracks of one room's members. Media for a member goes to every session
// watching them; a member's tracks exist from the first frame or the first viewer on.
type Room struct {
	r  *Relay
	id string

	mu      sync.Mutex
	members map[string]*member
}

func newRoom(r *Relay, id string) *Room {
	return &Room{r: r, id: id, members: make(map[string]*member)}
}

// ID is the room's ID.
func (rm *Room) ID() string { return rm.id }

// member is one member's outgoing tracks and their RTP state. The media methods are called
// from the voice connection's one receive goroutine per sender; mu keeps them safe anyway.
type member struct {
	userID string
	video  *webrtc.TrackLocalStaticRTP
	audio  *webrtc.TrackLocalStaticRTP

	mu          sync.Mutex
	vp8         codecs.VP8Payloader
	videoSeq    uint16
	audioSeq    uint16
	pkt         rtp.Packet
	lastVideo   time.Time
	lastAudio   time.Time
	frames      uint64
	packets     uint64
	lastKFAsked time.Time
}

func (rm *Room) member(userID string) *member {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	m := rm.members[userID]
	if m == nil {
		// The stream ID is the member's user ID: a browser reads it as the MediaStream's id.
		video, _ := webrtc.NewTrackLocalStaticRTP(vp8Capability(), "video", userID)
		audio, _ := webrtc.NewTrackLocalStaticRTP(opusCapability(), "audio", userID)
		m = &member{userID: userID, video: video, audio: audio}
		m.vp8.EnablePictureID = true
		rm.members[userID] = m
	}
	return m
}

// WriteVideo sends one VP8 frame of userID's camera (timestamp at 90 kHz) to its viewers.
func (rm *Room) WriteVideo(userID string, timestamp uint32, frame []byte) {
	m := rm.member(userID)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastVideo = time.Now()
	m.frames++
	payloads := m.vp8.Payload(VideoMTU, frame)
	for i, p := range payloads {
		m.pkt.Header = rtp.Header{
			Version: 2, PayloadType: 96, SequenceNumber: m.videoSeq, Timestamp: timestamp,
			Marker: i == len(payloads)-1,
		}
		m.pkt.Payload = p
		m.videoSeq++
		m.packets++
		_ = m.video.WriteRTP(&m.pkt)
	}
}

// WriteAudio sends one Opus packet of userID's voice (timestamp at 48 kHz) to its viewers.
func (rm *Room) WriteAudio(userID string, timestamp uint32, opus []byte) {
	m := rm.member(userID)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastAudio = time.Now()
	m.pkt.Header = rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: m.audioSeq, Timestamp: timestamp}
	m.pkt.Payload = opus
	m.audioSeq++
	m.packets++
	_ = m.audio.WriteRTP(&m.pkt)
}

// MemberMedia says what the relay has received of a member.
type MemberMedia struct {
	UserID string `json:"user_id"`
	// VideoFrames counts the camera's frames; LastVideo and LastAudio are when the last frame
	// and packet arrived (zero: never).
	VideoFrames uint64    `json:"video_frames"`
	LastVideo   time.Time `json:"last_video,omitzero"`
	LastAudio   time.Time `json:"last_audio,omitzero"`
}

// Media returns what the relay has received of each member.
func (rm *Room) Media() []MemberMedia {
	rm.mu.Lock()
	members := make([]*member, 0, len(rm.members))
	for _, m := range rm.members {
		members = append(members, m)
	}
	rm.mu.Unlock()
	out := make([]MemberMedia, 0, len(members))
	for _, m := range members {
		m.mu.Lock()
		out = append(out, MemberMedia{UserID: m.userID, VideoFrames: m.frames, LastVideo: m.lastVideo, LastAudio: m.lastAudio})
		m.mu.Unlock()
	}
	return out
}

// askKeyframe passes a keyframe request for userID's camera on, at most once per
// KeyframeInterval.
func (rm *Room) askKeyframe(userID string) {
	m := rm.member(userID)
	now := time.Now()
	m.mu.Lock()
	if now.Sub(m.lastKFAsked) < rm.r.cfg.KeyframeInterval {
		m.mu.Unlock()
		return
	}
	m.lastKFAsked = now
	m.mu.Unlock()
	if f := rm.r.cfg.OnKeyframeRequest; f != nil {
		go f(rm.id, userID)
	}
}
