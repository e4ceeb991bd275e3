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
// connection's receive loop never waits for the viewers. The viewers are shared out among lanes,
// each with tracks of its own: the writer packetizes an item once and the lanes write it to their
// viewers at the same time.
type member struct {
	rm     *Room
	userID string
	lanes  []*lane // lanes[0] is written by the writer itself, the others by goroutines of their own
	queue  chan media
	done   chan struct{}

	// Owned by the writer goroutine.
	vp8      codecs.VP8Payloader
	h264Pay  codecs.H264Payloader
	videoSeq uint16
	audioSeq uint16
	job      laneJob

	mu          sync.Mutex
	lastVideo   time.Time
	lastAudio   time.Time
	frames      uint64
	dropped     uint64
	lastKFAsked time.Time
	kfWanted    bool   // a keyframe was asked for and has not come yet
	codec       string // the camera's codec, from its last frame ("" before any)
}

// lane is a share of a member's viewers: its sessions send its tracks.
type lane struct {
	video   *webrtc.TrackLocalStaticRTP // VP8
	h264    *webrtc.TrackLocalStaticRTP
	audio   *webrtc.TrackLocalStaticRTP
	viewers int // sessions bound to the lane (member.mu)

	jobs chan *laneJob // lanes after the first: the writer's items
	pkt  rtp.Packet    // owned by whoever writes the lane
}

// laneJob is one item's packets, ready for every lane: the same headers and payloads to each.
type laneJob struct {
	kind     int // laneAudio, laneVP8 or laneH264
	headers  []rtp.Header
	payloads [][]byte
	wg       sync.WaitGroup
}

const (
	laneAudio = iota
	laneVP8
	laneH264
)

// newLane makes a lane's tracks; the stream ID is the member's user ID (a browser reads it as the
// MediaStream's id).
func newLane(streamID string) *lane {
	video, _ := webrtc.NewTrackLocalStaticRTP(vp8Capability(), "video", streamID)
	h264, _ := webrtc.NewTrackLocalStaticRTP(h264Capability(), "video", streamID)
	audio, _ := webrtc.NewTrackLocalStaticRTP(opusCapability(), "audio", streamID)
	return &lane{video: video, h264: h264, audio: audio}
}

// track is the lane's video track for codec.
func (l *lane) track(codec string) *webrtc.TrackLocalStaticRTP {
	if codec == codecH264 {
		return l.h264
	}
	return l.video
}

// write sends j's packets on the lane's track of j's kind.
func (l *lane) write(j *laneJob) {
	track := l.audio
	switch j.kind {
	case laneVP8:
		track = l.video
	case laneH264:
		track = l.h264
	}
	for i, p := range j.payloads {
		l.pkt.Header = j.headers[i]
		l.pkt.Payload = p
		_ = track.WriteRTP(&l.pkt)
	}
}

// run is the goroutine of a lane after the first.
func (l *lane) run() {
	for j := range l.jobs {
		l.write(j)
		j.wg.Done()
	}
}

// bind takes a lane for a new session: the one with the fewest viewers.
func (m *member) bind() *lane {
	m.mu.Lock()
	defer m.mu.Unlock()
	best := m.lanes[0]
	for _, l := range m.lanes[1:] {
		if l.viewers < best.viewers {
			best = l
		}
	}
	best.viewers++
	return best
}

// unbind gives a session's lane back.
func (m *member) unbind(l *lane) {
	m.mu.Lock()
	l.viewers--
	m.mu.Unlock()
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
		m = &member{rm: rm, userID: userID, queue: make(chan media, rm.r.cfg.QueueLength), done: make(chan struct{})}
		for i := range rm.r.cfg.Lanes {
			l := newLane(userID)
			if i > 0 {
				l.jobs = make(chan *laneJob, 1)
				go l.run()
			}
			m.lanes = append(m.lanes, l)
		}
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

// write is the member's writer: each queued item goes to every viewer of the member, the lanes
// in parallel.
func (m *member) write() {
	defer close(m.done)
	defer func() {
		for _, l := range m.lanes[1:] {
			close(l.jobs)
		}
	}()
	onForward := m.rm.r.cfg.OnForward
	j := &m.job
	busy := make([]*lane, 0, len(m.lanes))
	for it := range m.queue {
		j.headers, j.payloads = j.headers[:0], j.payloads[:0]
		if it.video {
			j.kind = laneVP8
			if it.h264 {
				j.kind, j.payloads = laneH264, m.h264Pay.Payload(VideoMTU, it.data)
			} else {
				j.payloads = m.vp8.Payload(VideoMTU, it.data)
			}
			m.noteCodec(it.h264)
			for i := range j.payloads {
				j.headers = append(j.headers, rtp.Header{
					Version: 2, PayloadType: 96, SequenceNumber: m.videoSeq, Timestamp: it.timestamp,
					Marker: i == len(j.payloads)-1,
				})
				m.videoSeq++
			}
		} else {
			j.kind = laneAudio
			j.payloads = append(j.payloads, it.data)
			j.headers = append(j.headers, rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: m.audioSeq, Timestamp: it.timestamp})
			m.audioSeq++
		}
		// The other lanes that have viewers take the item; the first is written here meanwhile.
		busy = busy[:0]
		m.mu.Lock()
		for _, l := range m.lanes[1:] {
			if l.viewers > 0 {
				busy = append(busy, l)
			}
		}
		m.mu.Unlock()
		j.wg.Add(len(busy))
		for _, l := range busy {
			l.jobs <- j
		}
		m.lanes[0].write(j)
		j.wg.Wait()
		if onForward != nil {
			onForward(time.Since(it.at), len(j.payloads))
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
