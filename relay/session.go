package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Errors of Watch and Stop; the WHEP handler maps each to its status.
var (
	// ErrBadOffer: the offer is not SDP, or not an offer a browser would make.
	ErrBadOffer = errors.New("relay: malformed SDP offer")
	// ErrNothingToReceive: the offer receives neither video (VP8, or H.264 with
	// packetization-mode 1 in a constrained baseline profile) nor Opus audio.
	ErrNothingToReceive = errors.New("relay: the offer receives neither VP8 or H.264 (packetization-mode 1, constrained baseline) video nor Opus audio")
	// ErrFull: the relay holds MaxSessions sessions.
	ErrFull = errors.New("relay: the relay is at its session limit")
	// ErrViewerLimit: the viewer holds MaxSessionsPerViewer sessions.
	ErrViewerLimit = errors.New("relay: the viewer is at its session limit")
	// ErrNoSession: no such session.
	ErrNoSession = errors.New("relay: no such session")
	// ErrNotYours: the session belongs to another viewer.
	ErrNotYours = errors.New("relay: the session belongs to another viewer")
	// ErrClosed: the relay is closed.
	ErrClosed = errors.New("relay: closed")
)

// Session is one viewer watching one member: a PeerConnection sending the member's camera and
// voice.
type Session struct {
	ID       string
	RoomID   string
	MemberID string
	Viewer   string
	Created  time.Time
	// Source is the kind of the published source watched (SourceBoard), "" for a member's
	// Discord camera and voice.
	Source string

	r    *Relay
	room *Room
	pub  *Publisher // the published source's publisher, nil for a member's camera
	pc   *webrtc.PeerConnection

	// The video sender and the codec it sends (codecs.go); codecs are what the offer takes.
	member      *member
	codecs      offerCodecs
	videoMu     sync.Mutex
	videoSender *webrtc.RTPSender
	videoCodec  string
	warned      bool

	endOnce sync.Once
	ended   chan struct{}
	reason  string
}

// Ended is closed when the session ends.
func (s *Session) Ended() <-chan struct{} { return s.ended }

// Reason says why the session ended ("" while it runs).
func (s *Session) Reason() string {
	select {
	case <-s.ended:
		return s.reason
	default:
		return ""
	}
}

// Watch answers a WHEP offer: viewer (a Discord user ID, who the caller has checked may watch)
// receives member's camera and voice in room. The answer carries every ICE candidate (the
// relay does not trickle).
func (r *Relay) Watch(ctx context.Context, roomID, memberID, viewer, offer string) (*Session, string, error) {
	if int64(len(offer)) > r.cfg.MaxOfferBytes {
		return nil, "", fmt.Errorf("%w: the offer exceeds %d bytes", ErrBadOffer, r.cfg.MaxOfferBytes)
	}
	video, audio, err := checkOffer(offer)
	if err != nil {
		return nil, "", err
	}
	rm := r.Room(roomID)
	m := rm.member(memberID)
	if m == nil {
		return nil, "", ErrClosed // the room's call ended this instant: ask again
	}
	s := &Session{
		ID: newID(), RoomID: roomID, MemberID: memberID, Viewer: viewer, Created: time.Now(),
		r: r, room: rm, ended: make(chan struct{}), member: m, codecs: video,
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
	answer, err := s.negotiate(ctx, m, video.any(), audio, offer)
	if err != nil {
		s.end("negotiation failed")
		return nil, "", err
	}
	return s, answer, nil
}

// admit counts the session against the limits and registers it.
func (r *Relay) admit(s *Session) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if len(r.sessions) >= r.cfg.MaxSessions {
		r.mu.Unlock()
		return ErrFull
	}
	if r.viewers[s.Viewer] >= r.cfg.MaxSessionsPerViewer {
		r.mu.Unlock()
		return ErrViewerLimit
	}
	r.sessions[s.ID] = s
	r.viewers[s.Viewer]++
	n := r.roomSessionsLocked(s.RoomID)
	r.mu.Unlock()
	r.notify(s.RoomID, n)
	return nil
}

// roomSessionsLocked counts roomID's sessions of members' Discord cameras.
func (r *Relay) roomSessionsLocked(roomID string) int {
	n := 0
	for _, s := range r.sessions {
		if s.RoomID == roomID && s.Source == "" {
			n++
		}
	}
	return n
}

func (r *Relay) notify(roomID string, n int) {
	if f := r.cfg.OnSessionsChange; f != nil {
		f(roomID, n)
	}
}

// CheckOffer checks an offer as Watch would, without a session: ErrBadOffer or
// ErrNothingToReceive, or nil.
func (r *Relay) CheckOffer(offer string) error {
	if int64(len(offer)) > r.cfg.MaxOfferBytes {
		return fmt.Errorf("%w: the offer exceeds %d bytes", ErrBadOffer, r.cfg.MaxOfferBytes)
	}
	_, _, err := checkOffer(offer)
	return err
}

// checkOffer parses an offer and says which video codecs (VP8, H.264) and whether Opus audio
// it receives.
func checkOffer(offer string) (video offerCodecs, audio bool, err error) {
	var d sdp.SessionDescription
	if strings.TrimSpace(offer) == "" {
		return video, false, fmt.Errorf("%w: empty body", ErrBadOffer)
	}
	if err := d.UnmarshalString(offer); err != nil {
		return video, false, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Port.Value == 0 || direction(md) == "sendonly" || direction(md) == "inactive" {
			continue
		}
		for _, f := range md.MediaName.Formats {
			codec, err := d.GetCodecForPayloadType(parsePT(f))
			if err != nil {
				continue
			}
			switch {
			case md.MediaName.Media == "video":
				video.note(codec)
			case md.MediaName.Media == "audio" && strings.EqualFold(codec.Name, "opus"):
				audio = true
			}
		}
	}
	if !video.any() && !audio {
		return video, false, ErrNothingToReceive
	}
	return video, audio, nil
}

func direction(md *sdp.MediaDescription) string {
	for _, a := range md.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return "sendrecv"
}

func parsePT(f string) uint8 {
	var pt uint8
	for _, c := range f {
		if c < '0' || c > '9' {
			return 255
		}
		pt = pt*10 + uint8(c-'0')
	}
	return pt
}

// negotiate builds the PeerConnection with the member's tracks and returns the answer once
// every local candidate is in it.
func (s *Session) negotiate(ctx context.Context, m *member, video, audio bool, offer string) (string, error) {
	pc := s.pc
	if video {
		// The camera's codec if the offer takes it, else one it takes (VP8 first): the answer
		// carries every codec both sides have, so a camera that changes codec later moves the
		// session to the other track without a new offer.
		codec := m.cameraCodec()
		if codec == "" || !s.codecs.has(codec) { // "": no frame yet (a published board is VP8)
			codec = codecVP8
			if !s.codecs.vp8 {
				codec = codecH264
			}
		}
		sender, err := pc.AddTrack(m.track(codec))
		if err != nil {
			return "", fmt.Errorf("relay: %w", err)
		}
		s.videoMu.Lock()
		s.videoSender, s.videoCodec = sender, codec
		s.videoMu.Unlock()
		go s.readRTCP(sender, true)
	}
	if audio {
		sender, err := pc.AddTrack(m.audio)
		if err != nil {
			return "", fmt.Errorf("relay: %w", err)
		}
		go s.readRTCP(sender, false)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if video {
				s.askKeyframe()
			}
		case webrtc.PeerConnectionStateFailed:
			s.end("connection failed")
		case webrtc.PeerConnectionStateClosed:
			s.end("connection closed")
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
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
	go s.watchConnect()
	if c := m.cameraCodec(); video && c != "" {
		s.useCodec(c) // the camera's codec changed meanwhile
	}
	return pc.LocalDescription().SDP, nil
}

// watchConnect ends the session if it is not connected within ConnectTimeout.
func (s *Session) watchConnect() {
	t := time.NewTimer(s.r.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-s.ended:
	case <-s.r.closing:
	case <-t.C:
		if s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			s.end("not connected in time")
		}
	}
}

// readRTCP reads a sender's RTCP (the interceptors need it read) and passes keyframe requests
// on.
func (s *Session) readRTCP(sender *webrtc.RTPSender, video bool) {
	for {
		packets, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if !video {
			continue
		}
		for _, p := range packets {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.askKeyframe()
			}
		}
	}
}

// end closes the session's connection and forgets it.
func (s *Session) end(reason string) {
	s.endOnce.Do(func() {
		s.reason = reason
		r := s.r
		r.mu.Lock()
		// Counted under the lock, so that Close (which ends the sessions it still finds, then
		// waits) never waits while a session it no longer sees adds itself.
		r.closers.Add(1)
		_, registered := r.sessions[s.ID]
		n := 0
		if registered {
			delete(r.sessions, s.ID)
			if r.viewers[s.Viewer]--; r.viewers[s.Viewer] <= 0 {
				delete(r.viewers, s.Viewer)
			}
			n = r.roomSessionsLocked(s.RoomID)
		}
		r.mu.Unlock()
		close(s.ended)
		// Close waits for the connection's goroutines, and end may run on one of them.
		go func() {
			defer r.closers.Done()
			_ = s.pc.Close()
		}()
		if registered {
			r.cfg.Logger.Debug("relay session ended", "session", s.ID, "room", s.RoomID, "member", s.MemberID, "reason", reason)
			r.notify(s.RoomID, n)
		}
	})
}

// Stop ends viewer's session id (a WHEP DELETE).
func (r *Relay) Stop(id, viewer string) error {
	r.mu.Lock()
	s := r.sessions[id]
	r.mu.Unlock()
	if s == nil {
		return ErrNoSession
	}
	if s.Viewer != viewer {
		return ErrNotYours
	}
	s.end("stopped by the viewer")
	return nil
}

// Session returns a running session.
func (r *Relay) Session(id string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}
