package relay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Published sources: a player publishes a camera from the page itself (WHIP), e.g. one pointed
// at their board, and the relay forwards it to the room's viewers like a member's camera. A
// source is keyed by the room, the publisher's Discord user id and its kind; one publishing
// session feeds it. Its viewers watch it with WatchSource; they end when its publisher does.

// Source kinds.
const (
	// SourceBoard is a camera pointed at the player's board: the one card recognition wants.
	SourceBoard = "board"
)

// Defaults of Config's publishing limits.
const (
	DefaultMaxPublishers        = 64
	DefaultMaxPublishersPerRoom = 8
)

// Errors of Publish, Unpublish and WatchSource.
var (
	// ErrNoVideo: the offer sends no video track.
	ErrNoVideo = errors.New("relay: the offer sends no video track (sendonly or sendrecv)")
	// ErrNoVP8: the offer's video does not offer VP8.
	ErrNoVP8 = errors.New("relay: the offer's video does not offer VP8")
	// ErrUnknownKind: the source kind is not one the relay knows.
	ErrUnknownKind = errors.New("relay: unknown source kind")
	// ErrPublisherLimit: the relay or the room holds the most publishers allowed.
	ErrPublisherLimit = errors.New("relay: publisher limit reached")
	// ErrNoSource: no one publishes that source.
	ErrNoSource = errors.New("relay: no such published source")
)

// ValidKind says whether kind is a source kind publishers may use.
func ValidKind(kind string) bool { return kind == SourceBoard }

type sourceKey struct{ room, member, kind string }

// publishers is the Relay's register of publishing sessions, guarded by Relay.mu.
type publishers struct {
	byID     map[string]*Publisher
	bySource map[sourceKey]*Publisher
	// closing counts the connections being closed; Close waits for none (a WaitGroup would
	// race: publishers end on their own goroutines while Close waits).
	closing int
	closed  *sync.Cond
}

// Publisher is one publishing session: a PeerConnection receiving a player's camera (and
// optionally their microphone), forwarded to the viewers of its source.
type Publisher struct {
	ID       string
	RoomID   string
	MemberID string
	Kind     string
	Created  time.Time

	r    *Relay
	pc   *webrtc.PeerConnection
	feed *member // the tracks viewers bind to (no writer of its own)

	mu        sync.Mutex
	videoSSRC uint32
	frames    uint64
	lastVideo time.Time
	lastKF    time.Time

	endOnce sync.Once
	ended   chan struct{}
	reason  string
}

// Ended is closed when the publishing session ends.
func (p *Publisher) Ended() <-chan struct{} { return p.ended }

// Reason says why the publishing session ended ("" while it runs).
func (p *Publisher) Reason() string {
	select {
	case <-p.ended:
		return p.reason
	default:
		return ""
	}
}

// StreamID is the MediaStream id of a published source's tracks at its viewers: the
// publisher's Discord user id and the kind, e.g. "111-board".
func StreamID(memberID, kind string) string { return memberID + "-" + kind }

// CheckPublishOffer checks a WHIP offer as Publish would, without a session.
func (r *Relay) CheckPublishOffer(offer string) error {
	if int64(len(offer)) > r.cfg.MaxOfferBytes {
		return fmt.Errorf("%w: the offer exceeds %d bytes", ErrBadOffer, r.cfg.MaxOfferBytes)
	}
	return checkPublishOffer(offer)
}

// checkPublishOffer wants a video section that sends, with VP8 among its codecs.
func checkPublishOffer(offer string) error {
	if strings.TrimSpace(offer) == "" {
		return fmt.Errorf("%w: empty body", ErrBadOffer)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	sends := false
	for _, md := range d.MediaDescriptions {
		dir := direction(md)
		if md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 || dir == "recvonly" || dir == "inactive" {
			continue
		}
		sends = true
		for _, f := range md.MediaName.Formats {
			if codec, err := d.GetCodecForPayloadType(parsePT(f)); err == nil && strings.EqualFold(codec.Name, "VP8") {
				return nil
			}
		}
	}
	if !sends {
		return ErrNoVideo
	}
	return ErrNoVP8
}

// Publish answers a WHIP offer: memberID (a Discord user id the caller has checked may publish
// in the room) publishes the source of kind in room. A publisher already feeding that source
// is replaced, and its viewers' sessions end (they ask again and get the new feed): a page
// that reloads cannot end its old session, and must not wait for it to time out.
func (r *Relay) Publish(ctx context.Context, roomID, memberID, kind, offer string) (*Publisher, string, error) {
	if !ValidKind(kind) {
		return nil, "", fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	if err := r.CheckPublishOffer(offer); err != nil {
		return nil, "", err
	}
	stream := StreamID(memberID, kind)
	video, _ := webrtc.NewTrackLocalStaticRTP(vp8Capability(), "video", stream)
	audio, _ := webrtc.NewTrackLocalStaticRTP(opusCapability(), "audio", stream)
	p := &Publisher{
		ID: newID(), RoomID: roomID, MemberID: memberID, Kind: kind, Created: time.Now(),
		r: r, feed: &member{userID: memberID, video: video, audio: audio}, ended: make(chan struct{}),
	}
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("relay: %w", err)
	}
	p.pc = pc
	if err := r.admitPublisher(p); err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	answer, err := p.negotiate(ctx, offer)
	if err != nil {
		p.end("negotiation failed")
		return nil, "", err
	}
	r.mu.Lock()
	key := sourceKey{roomID, memberID, kind}
	old := r.pub.bySource[key]
	_, live := r.pub.byID[p.ID]
	if live {
		r.pub.bySource[key] = p
	}
	r.mu.Unlock()
	if !live { // ended meanwhile (the relay closing, the room's table turned off)
		return nil, "", ErrClosed
	}
	if old != nil {
		old.end("replaced by a new publishing session")
	}
	r.cfg.Logger.Debug("relay publisher started", "publisher", p.ID, "room", roomID, "member", memberID, "kind", kind)
	return p, answer, nil
}

// admitPublisher counts the publisher against the limits (a publisher it will replace does not
// count) and registers it.
func (r *Relay) admitPublisher(p *Publisher) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.pub.byID == nil {
		r.pub.byID, r.pub.bySource = make(map[string]*Publisher), make(map[sourceKey]*Publisher)
	}
	replaced := r.pub.bySource[sourceKey{p.RoomID, p.MemberID, p.Kind}]
	all, room := 0, 0
	for _, q := range r.pub.byID {
		if q == replaced {
			continue
		}
		all++
		if q.RoomID == p.RoomID {
			room++
		}
	}
	if all >= r.cfg.MaxPublishers {
		return fmt.Errorf("%w: the relay holds %d publishers", ErrPublisherLimit, all)
	}
	if room >= r.cfg.MaxPublishersPerRoom {
		return fmt.Errorf("%w: the room holds %d publishers", ErrPublisherLimit, room)
	}
	r.pub.byID[p.ID] = p
	return nil
}

// negotiate receives the offer's video (and audio) and returns the answer once every local
// candidate is in it.
func (p *Publisher) negotiate(ctx context.Context, offer string) (string, error) {
	pc := p.pc
	pc.OnTrack(p.forward)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed:
			p.end("connection failed")
		case webrtc.PeerConnectionStateClosed:
			p.end("connection closed")
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if !strings.Contains(answer.SDP, "VP8/90000") {
		return "", ErrNoVP8
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("relay: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	go p.watchConnect()
	return pc.LocalDescription().SDP, nil
}

// forward copies one received track to the source's track of its kind, packet by packet: the
// publisher's VP8 packetization, sequence numbers and timestamps, without header extensions
// (their ids were negotiated with the publisher, not with the viewers).
func (p *Publisher) forward(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	out := p.feed.audio
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	if video {
		out = p.feed.video
		p.mu.Lock()
		p.videoSSRC = uint32(tr.SSRC())
		p.lastKF = time.Time{}
		p.mu.Unlock()
		p.askKeyframe() // viewers may be waiting: start from a keyframe
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		pkt.Header.Extension, pkt.Header.Extensions, pkt.Header.ExtensionProfile = false, nil, 0
		if video && pkt.Marker {
			p.mu.Lock()
			p.frames++
			p.lastVideo = time.Now()
			p.mu.Unlock()
		}
		_ = out.WriteRTP(pkt)
	}
}

// askKeyframe sends the publisher an RTCP PLI for its video, at most once per
// KeyframeInterval.
func (p *Publisher) askKeyframe() {
	now := time.Now()
	p.mu.Lock()
	ssrc := p.videoSSRC
	if ssrc == 0 || now.Sub(p.lastKF) < p.r.cfg.KeyframeInterval {
		p.mu.Unlock()
		return
	}
	p.lastKF = now
	p.mu.Unlock()
	_ = p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// watchConnect ends the publisher if it is not connected within ConnectTimeout.
func (p *Publisher) watchConnect() {
	t := time.NewTimer(p.r.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-p.ended:
	case <-p.r.closing:
	case <-t.C:
		if p.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			p.end("not connected in time")
		}
	}
}

// end closes the publisher's connection, forgets it and ends its viewers' sessions.
func (p *Publisher) end(reason string) {
	p.endOnce.Do(func() {
		p.reason = reason
		r := p.r
		r.mu.Lock()
		close(p.ended) // under r.mu: a viewer admitted after the scan below sees it ended
		_, registered := r.pub.byID[p.ID]
		delete(r.pub.byID, p.ID)
		key := sourceKey{p.RoomID, p.MemberID, p.Kind}
		if r.pub.bySource[key] == p {
			delete(r.pub.bySource, key)
		}
		var viewers []*Session
		for _, s := range r.sessions {
			if s.pub == p {
				viewers = append(viewers, s)
			}
		}
		r.pub.closing++
		r.mu.Unlock()
		for _, s := range viewers {
			s.end("the publisher stopped")
		}
		// Close waits for the connection's goroutines, and end may run on one of them.
		go func() {
			_ = p.pc.Close()
			r.mu.Lock()
			r.pub.closing--
			r.pubCond().Broadcast()
			r.mu.Unlock()
		}()
		if registered {
			r.cfg.Logger.Info("relay publisher ended", "publisher", p.ID, "room", p.RoomID, "member", p.MemberID, "reason", reason)
		}
	})
}

// Unpublish ends memberID's publishing session id (a WHIP DELETE).
func (r *Relay) Unpublish(id, memberID string) error {
	r.mu.Lock()
	p := r.pub.byID[id]
	r.mu.Unlock()
	if p == nil {
		return ErrNoSession
	}
	if p.MemberID != memberID {
		return ErrNotYours
	}
	p.end("stopped by the publisher")
	return nil
}

// EndPublishers ends the publishing sessions of a room (memberID "": all of them), and so their
// viewers' sessions: the room's table view was turned off, the room deleted, the member left.
func (r *Relay) EndPublishers(roomID, memberID, reason string) int {
	r.mu.Lock()
	var ending []*Publisher
	for _, p := range r.pub.byID {
		if p.RoomID == roomID && (memberID == "" || p.MemberID == memberID) {
			ending = append(ending, p)
		}
	}
	r.mu.Unlock()
	for _, p := range ending {
		p.end(reason)
	}
	return len(ending)
}

// endAllPublishers ends every publisher (the relay closing).
func (r *Relay) endAllPublishers() {
	r.mu.Lock()
	ending := make([]*Publisher, 0, len(r.pub.byID))
	for _, p := range r.pub.byID {
		ending = append(ending, p)
	}
	r.mu.Unlock()
	for _, p := range ending {
		p.end("relay closed")
	}
	r.mu.Lock()
	for r.pub.closing > 0 {
		r.pubCond().Wait()
	}
	r.mu.Unlock()
}

// pubCond is signalled when a publisher's connection is closed; r.mu is held.
func (r *Relay) pubCond() *sync.Cond {
	if r.pub.closed == nil {
		r.pub.closed = sync.NewCond(&r.mu)
	}
	return r.pub.closed
}

// Publisher returns a running publishing session.
func (r *Relay) Publisher(id string) *Publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pub.byID[id]
}

// SourceInfo describes a published source.
type SourceInfo struct {
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	Kind   string `json:"kind"`
	// Since is when its publisher started; VideoFrames counts the frames received, LastVideo
	// when the last one came (zero: none yet); Viewers counts its viewing sessions.
	Since       time.Time `json:"since"`
	VideoFrames uint64    `json:"video_frames"`
	LastVideo   time.Time `json:"last_video,omitzero"`
	Viewers     int       `json:"viewers"`
}

// Sources lists a room's published sources ("": every room's), by user id and kind.
func (r *Relay) Sources(roomID string) []SourceInfo {
	r.mu.Lock()
	var pubs []*Publisher
	viewers := make(map[*Publisher]int)
	for k, p := range r.pub.bySource {
		if roomID == "" || k.room == roomID {
			pubs = append(pubs, p)
		}
	}
	for _, s := range r.sessions {
		if s.pub != nil {
			viewers[s.pub]++
		}
	}
	r.mu.Unlock()
	out := make([]SourceInfo, 0, len(pubs))
	for _, p := range pubs {
		p.mu.Lock()
		out = append(out, SourceInfo{RoomID: p.RoomID, UserID: p.MemberID, Kind: p.Kind, Since: p.Created, VideoFrames: p.frames, LastVideo: p.lastVideo, Viewers: viewers[p]})
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].RoomID != out[j].RoomID {
			return out[i].RoomID < out[j].RoomID
		}
		if out[i].UserID != out[j].UserID {
			return out[i].UserID < out[j].UserID
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// Publishers returns the number of publishing sessions, in all and of one room.
func (r *Relay) Publishers(roomID string) (all, room int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pub.byID {
		if p.RoomID == roomID {
			room++
		}
	}
	return len(r.pub.byID), room
}

// WatchSource answers a WHEP offer for a published source: viewer receives memberID's source
// of kind in room, as Watch receives a member's camera. ErrNoSource when no one publishes it.
func (r *Relay) WatchSource(ctx context.Context, roomID, memberID, kind, viewer, offer string) (*Session, string, error) {
	if !ValidKind(kind) {
		return nil, "", fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	if int64(len(offer)) > r.cfg.MaxOfferBytes {
		return nil, "", fmt.Errorf("%w: the offer exceeds %d bytes", ErrBadOffer, r.cfg.MaxOfferBytes)
	}
	video, audio, err := checkOffer(offer)
	if err != nil {
		return nil, "", err
	}
	if !video.vp8 && !audio {
		return nil, "", fmt.Errorf("%w (a published camera is VP8)", ErrNothingToReceive)
	}
	r.mu.Lock()
	p := r.pub.bySource[sourceKey{roomID, memberID, kind}]
	r.mu.Unlock()
	if p == nil {
		return nil, "", ErrNoSource
	}
	s := &Session{
		ID: newID(), RoomID: roomID, MemberID: memberID, Source: kind, Viewer: viewer, Created: time.Now(),
		r: r, room: r.Room(roomID), pub: p, ended: make(chan struct{}), codecs: video,
	}
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("relay: %w", err)
	}
	s.pc = pc
	if err := r.admit(s); err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	select {
	case <-p.ended: // the publisher ended before the session was registered
		s.end("the publisher stopped")
		return nil, "", ErrNoSource
	default:
	}
	// A published camera is VP8 (the WHIP offer had to offer it): a viewer that takes only H.264
	// gets the publisher's audio, if any.
	answer, err := s.negotiate(ctx, p.feed, video.vp8, audio, offer)
	if err != nil {
		s.end("negotiation failed")
		return nil, "", err
	}
	return s, answer, nil
}

// askKeyframe passes a viewer's keyframe request on: to the publisher of a published source,
// to the member's sender otherwise.
func (s *Session) askKeyframe() {
	if s.pub != nil {
		s.pub.askKeyframe()
		return
	}
	s.room.askKeyframe(s.MemberID)
}
