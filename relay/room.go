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
	closed  bool
}

func newRoom(r *Relay, id string) *Room {
	return &Room{r: r, id: id, members: make(map[string]*member)}
}

// ID is the room's ID.
func (rm *Room) ID() string { return rm.id }

// media is one frame or voice packet on its way to a member's viewers.
type media struct {
	video     bool
	h264      bool // an H.264 access unit, not a VP8 frame
	timestamp uint32
	data      []byte
	at        time.Time
}

// member is one member's outgoing tracks. WriteVideo and WriteAudio queue the media; the member's
// own goroutine writes it to every viewer, so that members are served in parallel and the voice
// connection's receive loop never waits for the viewers.
type member struct {
	rm     *Room
	userID string
	video  *webrtc.TrackLocalStaticRTP // VP8
	h264   *webrtc.TrackLocalStaticRTP
	audio  *webrtc.TrackLocalStaticRTP
	queue  chan media
	done   chan struct{}

	// Owned by the writer goroutine.
	vp8      codecs.VP8Payloader
	h264Pay  codecs.H264Payloader
	videoSeq uint16
	audioSeq uint16
	pkt      rtp.Packet

	mu          sync.Mutex
	lastVideo   time.Time
	lastAudio   time.Time
	frames      uint64
	dropped     uint64
	lastKFAsked time.Time
	kfWanted    bool   // a keyframe was asked for and has not come yet
	codec       string // the camera's codec, from its last frame ("" before any)
}

// member returns userID's tracks, created (with their writer) on first use; nil once the room
// was closed.
func (rm *Room) member(userID string) *member {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.memberLocked(userID)
}

func (rm *Room) memberLocked(userID string) *member {
	if rm.closed {
		return nil
	}
	m := rm.members[userID]
	if m == nil {
		// The stream ID is the member's user ID: a browser reads it as the MediaStream's id.
		video, _ := webrtc.NewTrackLocalStaticRTP(vp8Capability(), "video", userID)
		h264, _ := webrtc.NewTrackLocalStaticRTP(h264Capability(), "video", userID)
		audio, _ := webrtc.NewTrackLocalStaticRTP(opusCapability(), "audio", userID)
		m = &member{rm: rm, userID: userID, video: video, h264: h264, audio: audio,
			queue: make(chan media, rm.r.cfg.QueueLength), done: make(chan struct{})}
		m.vp8.EnablePictureID = true
		rm.members[userID] = m
		go m.write()
	}
	return m
}

// close stops the members' writers; media written afterwards is dropped.
func (rm *Room) close() {
	rm.mu.Lock()
	if rm.closed {
		rm.mu.Unlock()
		return
	}
	rm.closed = true
	members := rm.members
	rm.mu.Unlock()
	for _, m := range members {
		close(m.queue)
		<-m.done
	}
}

// WriteVideo queues one VP8 frame of userID's camera (timestamp at 90 kHz) for its viewers. It
// does not wait for them; past QueueLength items waiting, the frame is dropped (and a keyframe
// asked for, since the frames after it cannot be decoded without).
func (rm *Room) WriteVideo(userID string, timestamp uint32, frame []byte) {
	rm.enqueue(userID, media{video: true, timestamp: timestamp, data: append([]byte(nil), frame...), at: time.Now()})
}

// WriteAudio queues one Opus packet of userID's voice (timestamp at 48 kHz) for its viewers.
func (rm *Room) WriteAudio(userID string, timestamp uint32, opus []byte) {
	rm.enqueue(userID, media{timestamp: timestamp, data: append([]byte(nil), opus...), at: time.Now()})
}

// enqueue hands an item to the member's writer, without waiting (the room's lock keeps the
// queue from closing meanwhile).
func (rm *Room) enqueue(userID string, it media) {
	rm.mu.Lock()
	m := rm.memberLocked(userID)
	if m == nil {
		rm.mu.Unlock()
		return
	}
	queued := true
	select {
	case m.queue <- it:
	default:
		queued = false
	}
	rm.mu.Unlock()
	m.mu.Lock()
	if it.video {
		m.lastVideo = it.at
		m.frames++
	} else {
		m.lastAudio = it.at
	}
	if !queued {
		m.dropped++
	}
	m.mu.Unlock()
	switch {
	case !it.video:
	case !queued:
		rm.askKeyframe(userID)
	default:
		rm.keyframeCame(m, it.keyframe())
	}
}

// write is the member's writer: each queued item goes to every viewer of the member.
func (m *member) write() {
	defer close(m.done)
	onForward := m.rm.r.cfg.OnForward
	for it := range m.queue {
		n := 1
		if it.video {
			track, payloads := m.video, [][]byte(nil)
			if it.h264 {
				track, payloads = m.h264, m.h264Pay.Payload(VideoMTU, it.data)
			} else {
				payloads = m.vp8.Payload(VideoMTU, it.data)
			}
			m.noteCodec(it.h264)
			n = len(payloads)
			for i, p := range payloads {
				m.pkt.Header = rtp.Header{
					Version: 2, PayloadType: 96, SequenceNumber: m.videoSeq, Timestamp: it.timestamp,
					Marker: i == len(payloads)-1,
				}
				m.pkt.Payload = p
				m.videoSeq++
				_ = track.WriteRTP(&m.pkt)
			}
		} else {
			m.pkt.Header = rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: m.audioSeq, Timestamp: it.timestamp}
			m.pkt.Payload = it.data
			m.audioSeq++
			_ = m.audio.WriteRTP(&m.pkt)
		}
		if onForward != nil {
			onForward(time.Since(it.at), n)
		}
	}
}

// MemberMedia says what the relay has received of a member.
type MemberMedia struct {
	UserID string `json:"user_id"`
	// VideoFrames counts the camera's frames; LastVideo and LastAudio are when the last frame
	// and packet arrived (zero: never); Dropped counts what the viewers' queue could not take.
	VideoFrames uint64    `json:"video_frames"`
	Dropped     uint64    `json:"dropped"`
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
		out = append(out, MemberMedia{UserID: m.userID, VideoFrames: m.frames, Dropped: m.dropped, LastVideo: m.lastVideo, LastAudio: m.lastAudio})
		m.mu.Unlock()
	}
	return out
}

// askKeyframe passes a keyframe request for userID's camera on, at most once per
// KeyframeInterval.
func (rm *Room) askKeyframe(userID string) {
	rm.mu.Lock()
	m := rm.members[userID]
	rm.mu.Unlock()
	if m == nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	m.kfWanted = true
	if now.Sub(m.lastKFAsked) < rm.r.cfg.KeyframeInterval {
		m.mu.Unlock()
		return
	}
	m.lastKFAsked = now
	m.mu.Unlock()
	if f := rm.r.cfg.OnKeyframeRequest; f != nil {
		go func() {
			if !f(rm.id, userID) {
				m.mu.Lock()
				if m.lastKFAsked.Equal(now) {
					m.lastKFAsked = time.Time{} // not sent: the next frame asks again
				}
				m.mu.Unlock()
			}
		}()
	}
}

// keyframeCame notes a frame of userID's camera: a keyframe ends the wait for one; any other
// frame, while one is wanted, asks again (throttled).
func (rm *Room) keyframeCame(m *member, key bool) {
	m.mu.Lock()
	wanted := m.kfWanted
	if key {
		m.kfWanted = false
	}
	m.mu.Unlock()
	if wanted && !key {
		rm.askKeyframe(m.userID)
	}
}
