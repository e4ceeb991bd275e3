package voiceserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/voice/dave"
)

// User is an emulated person in a voice call: the bots in the call see them connect, speak,
// send audio and video, and leave.
type User struct {
	srv       *Server
	ID        string
	GuildID   string
	ChannelID string
	// SSRC and VideoSSRC are the SSRCs the user's audio and video use.
	SSRC, VideoSSRC uint32

	// Guarded by srv.mu.
	speaking int
	video    bool
	left     bool
	e2ee     E2EEMember // the user's DAVE member while the call has a group
	opts     UserOptions

	// sendMu serializes the user's media (sequence numbers and timestamps).
	sendMu   sync.Mutex
	audioSeq uint16
	audioTS  uint32
	videoSeq uint16
	videoTS  uint32
	vp8      codecs.VP8Payloader
	h264     codecs.H264Payloader
	buf      []byte

	stopOnce sync.Once
	stopped  chan struct{}

	// keyframeWanted is set by a bot's PLI or FIR about the user's video.
	keyframeWanted atomic.Bool
	live           liveMedia
}

// UserOptions shape an emulated user.
type UserOptions struct {
	// E2EE creates the user's DAVE client when the call has a DAVE group (default: a
	// *dave.Session). userID and channelID are the user's and the call's IDs.
	E2EE func(userID, channelID uint64) (E2EEMember, error)
}

// JoinUser puts an emulated user into a call; the bots in it get op 11 clients connect.
func (s *Server) JoinUser(guildID, channelID, userID string) (*User, error) {
	return s.JoinUserWith(guildID, channelID, userID, UserOptions{})
}

// JoinUserWith is JoinUser with options.
func (s *Server) JoinUserWith(guildID, channelID, userID string, opts UserOptions) (*User, error) {
	if guildID == "" || channelID == "" || userID == "" {
		return nil, errors.New("voiceserver: JoinUser needs a guild, a channel and a user ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := grantKey(guildID, channelID)
	if s.calls[key] == nil {
		s.calls[key] = make(map[string]*User)
	}
	if _, ok := s.calls[key][userID]; ok {
		return nil, fmt.Errorf("voiceserver: user %s is already in the call", userID)
	}
	u := &User{srv: s, ID: userID, GuildID: guildID, ChannelID: channelID, opts: opts, stopped: make(chan struct{})}
	u.SSRC, u.VideoSSRC, _ = s.allocSSRCsLocked()
	u.vp8.EnablePictureID = true
	s.calls[key][userID] = u
	for _, sess := range s.sessionsInCallLocked(guildID, channelID) {
		s.sendLocked(sess, opClientsConnect, map[string]any{"user_ids": []string{userID}})
	}
	if call := s.daveCalls[key]; call != nil {
		s.daveAddUserLocked(call, u)
	}
	return u, nil
}

func (s *Server) allUsersLocked() []*User {
	var out []*User
	for _, call := range s.calls {
		for _, u := range call {
			out = append(out, u)
		}
	}
	return out
}

func (u *User) stopSending() { u.stopOnce.Do(func() { close(u.stopped) }) }

// Leave takes the user out of the call; the bots get op 13 client disconnect.
func (u *User) Leave() error {
	s := u.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.left {
		return errors.New("voiceserver: user already left")
	}
	u.left = true
	u.stopSending()
	delete(s.calls[grantKey(u.GuildID, u.ChannelID)], u.ID)
	for _, sess := range s.sessionsInCallLocked(u.GuildID, u.ChannelID) {
		s.sendLocked(sess, opClientDisconnect, map[string]any{"user_id": u.ID})
	}
	if u.e2ee != nil {
		s.daveLeaveLocked(u.GuildID, u.ChannelID, u.ID)
	}
	return nil
}

// SetSpeaking sends op 5 about the user to the bots in the call.
func (u *User) SetSpeaking(flags int) error {
	s := u.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.left {
		return errors.New("voiceserver: user left the call")
	}
	u.speaking = flags
	for _, sess := range s.sessionsInCallLocked(u.GuildID, u.ChannelID) {
		s.sendLocked(sess, opSpeaking, map[string]any{"user_id": u.ID, "ssrc": u.SSRC, "speaking": flags})
	}
	return nil
}

// SetVideo announces (or withdraws) the user's video with op 12, which maps their video SSRC.
func (u *User) SetVideo(active bool) error {
	s := u.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	u.video = active
	for _, sess := range s.sessionsInCallLocked(u.GuildID, u.ChannelID) {
		s.sendLocked(sess, opVideo, u.videoPayload())
	}
	return nil
}

// videoPayload is the op 12 about the user's video; srv.mu is held.
func (u *User) videoPayload() map[string]any {
	video := uint32(0)
	if u.video {
		video = u.VideoSSRC
	}
	return map[string]any{
		"user_id": u.ID, "audio_ssrc": u.SSRC, "video_ssrc": video, "rtx_ssrc": 0,
		"streams": []map[string]any{{"type": "video", "rid": "100", "ssrc": u.VideoSSRC, "active": u.video, "quality": 100}},
	}
}

// Impairment makes the network between the user and the bot imperfect, deterministically for a
// given Seed.
type Impairment struct {
	// Loss is the probability that a packet is dropped.
	Loss float64
	// Reorder is the probability that a packet is held back and sent after the next one.
	Reorder float64
	// Seed seeds the random choices.
	Seed uint64
}

// SendOptions shapes a SendOpus or SendVP8 run.
type SendOptions struct {
	// Interval is the time between frames (default 20 ms for audio, 33 ms for video).
	Interval time.Duration
	// Impairment drops and reorders packets on the way.
	Impairment Impairment
}

// SendReport says what went on the wire, so a test knows what the bot should have received.
type SendReport struct {
	// Sequences are the RTP sequence numbers of all packets, in the order built.
	Sequences []uint16
	// Dropped are the sequence numbers the impairment dropped.
	Dropped []uint16
	// Reordered counts packets sent after their successor.
	Reordered int
	// Recipients is how many bot sessions received the stream.
	Recipients int
	// FramesDelivered are the indexes of the frames whose packets were all sent (video).
	FramesDelivered []int
}

// impairedSender applies loss and reordering to a packet stream.
type impairedSender struct {
	u       *User
	rng     *rand.Rand
	imp     Impairment
	held    *heldPacket
	report  *SendReport
	targets []*session
}

type heldPacket struct {
	seq  uint16
	wire func()
}

// SendOpus sends Opus packets as the user, paced by opts.Interval, to every bot in the call,
// sealed in each bot session's mode, after op 5 speaking. It returns when all are sent or ctx
// ends.
func (u *User) SendOpus(ctx context.Context, packets [][]byte, opts SendOptions) (SendReport, error) {
	if opts.Interval == 0 {
		opts.Interval = 20 * time.Millisecond
	}
	if err := u.SetSpeaking(1); err != nil {
		return SendReport{}, err
	}
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	is, err := u.newImpairedSender(ctx, opts.Impairment)
	if err != nil {
		return SendReport{}, err
	}
	start := time.Now()
	for i, p := range packets {
		if err := u.sleepUntil(ctx, start.Add(time.Duration(i)*opts.Interval)); err != nil {
			return *is.report, err
		}
		seq, ts := u.audioSeq, u.audioTS
		u.audioSeq++
		samples, err := voice.OpusPacketSamples(p)
		if err != nil {
			return *is.report, err
		}
		u.audioTS += uint32(samples)
		frame, err := u.protect(dave.CodecOpus, p)
		if err != nil {
			return *is.report, err
		}
		is.send(seq, false, voice.PayloadTypeOpus, ts, u.SSRC, nil, frame)
	}
	is.flush()
	return *is.report, nil
}

// SendVP8 sends VP8 frames as the user with pion/rtp's payloader (picture IDs on, one-byte
// header extension on every packet, marker on each frame's last), paced by opts.Interval,
// after announcing the video with op 12.
func (u *User) SendVP8(ctx context.Context, frames [][]byte, opts SendOptions) (SendReport, error) {
	if opts.Interval == 0 {
		opts.Interval = 33 * time.Millisecond
	}
	if err := u.SetVideo(true); err != nil {
		return SendReport{}, err
	}
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	is, err := u.newImpairedSender(ctx, opts.Impairment)
	if err != nil {
		return SendReport{}, err
	}
	ext := []byte{5<<4 | 2, 0, 0, 0}
	start := time.Now()
	for i, f := range frames {
		if err := u.sleepUntil(ctx, start.Add(time.Duration(i)*opts.Interval)); err != nil {
			return *is.report, err
		}
		frame, err := u.protect(dave.CodecVP8, f)
		if err != nil {
			return *is.report, err
		}
		parts := u.vp8.Payload(1100, frame)
		dropsBefore := len(is.report.Dropped)
		for j, part := range parts {
			seq := u.videoSeq
			u.videoSeq++
			is.send(seq, j == len(parts)-1, voice.PayloadTypeVP8, u.videoTS, u.VideoSSRC, ext, part)
		}
		if len(is.report.Dropped) == dropsBefore {
			is.report.FramesDelivered = append(is.report.FramesDelivered, i)
		}
		u.videoTS += voice.VideoClockRate / 30
	}
	is.flush()
	return *is.report, nil
}

// SendH264 sends H.264 access units (Annex B) as the user, as Discord's clients do: each made
// to travel as it arrives (voice.NormalizeH264Frame), end-to-end encrypted as H.264, packetized
// by pion/rtp's H.264 payloader (packetization-mode 1) with the one-byte header extension and
// the marker on each frame's last packet, paced by opts.Interval, after announcing the video
// with op 12. Each receiver gets it under its own H.264 payload type; one that did not announce
// H.264 gets none.
func (u *User) SendH264(ctx context.Context, frames [][]byte, opts SendOptions) (SendReport, error) {
	if opts.Interval == 0 {
		opts.Interval = 33 * time.Millisecond
	}
	norm := make([][]byte, len(frames))
	for i, f := range frames {
		n, err := voice.NormalizeH264Frame(nil, f)
		if err != nil {
			return SendReport{}, fmt.Errorf("voiceserver: frame %d: %w", i, err)
		}
		norm[i] = n
	}
	if err := u.SetVideo(true); err != nil {
		return SendReport{}, err
	}
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	is, err := u.newImpairedSender(ctx, opts.Impairment)
	if err != nil {
		return SendReport{}, err
	}
	ext := []byte{5<<4 | 2, 0, 0, 0}
	start := time.Now()
	for i, f := range norm {
		if err := u.sleepUntil(ctx, start.Add(time.Duration(i)*opts.Interval)); err != nil {
			return *is.report, err
		}
		frame, err := u.protect(dave.CodecH264, f)
		if err != nil {
			return *is.report, err
		}
		parts := u.h264.Payload(1100, frame)
		dropsBefore := len(is.report.Dropped)
		for j, part := range parts {
			seq := u.videoSeq
			u.videoSeq++
			is.send(seq, j == len(parts)-1, voice.PayloadTypeH264, u.videoTS, u.VideoSSRC, ext, part)
		}
		if len(is.report.Dropped) == dropsBefore {
			is.report.FramesDelivered = append(is.report.FramesDelivered, i)
		}
		u.videoTS += voice.VideoClockRate / 30
	}
	is.flush()
	return *is.report, nil
}

func (u *User) newImpairedSender(ctx context.Context, imp Impairment) (*impairedSender, error) {
	s := u.srv
	s.mu.Lock()
	if u.left {
		s.mu.Unlock()
		return nil, errors.New("voiceserver: user left the call")
	}
	var targets []*session
	for _, sess := range s.sessionsInCallLocked(u.GuildID, u.ChannelID) {
		if sess.botAddr != nil {
			targets = append(targets, sess)
		}
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return nil, errors.New("voiceserver: no bot in the call has set up media")
	}
	if err := u.awaitE2EE(ctx); err != nil {
		return nil, err
	}
	return &impairedSender{
		u: u, imp: imp, targets: targets,
		rng:    rand.New(rand.NewPCG(imp.Seed, imp.Seed^0x9e3779b97f4a7c15)),
		report: &SendReport{Recipients: len(targets)},
	}, nil
}

func (u *User) sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-u.stopped:
		return errors.New("voiceserver: stopped")
	}
}

// send builds one packet and puts it through the impairment: dropped, held back behind the
// next one, or sent (after any held packet it overtakes).
func (is *impairedSender) send(seq uint16, marker bool, pt uint8, ts, ssrc uint32, ext, payload []byte) {
	is.report.Sequences = append(is.report.Sequences, seq)
	if is.imp.Loss > 0 && is.rng.Float64() < is.imp.Loss {
		is.report.Dropped = append(is.report.Dropped, seq)
		return
	}
	header := rtpHeader(marker, pt, seq, ts, ssrc, ext)
	payload = append([]byte(nil), payload...)
	wire := func() {
		for _, sess := range is.targets {
			is.u.srv.sealAndSend(sess, header, payload)
		}
	}
	if is.held == nil && is.imp.Reorder > 0 && is.rng.Float64() < is.imp.Reorder {
		is.held = &heldPacket{seq: seq, wire: wire}
		return
	}
	wire()
	if is.held != nil {
		is.held.wire()
		is.held = nil
		is.report.Reordered++
	}
}

// flush sends a packet still held at the end of the stream.
func (is *impairedSender) flush() {
	if is.held != nil {
		is.held.wire()
		is.held = nil
	}
}

func rtpHeader(marker bool, pt uint8, seq uint16, ts, ssrc uint32, ext []byte) []byte {
	h := make([]byte, 12, 12+4+len(ext))
	h[0] = 0x80
	if ext != nil {
		h[0] |= 0x10
	}
	h[1] = pt
	if marker {
		h[1] |= 0x80
	}
	h[2], h[3] = byte(seq>>8), byte(seq)
	h[4], h[5], h[6], h[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	h[8], h[9], h[10], h[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
	if ext != nil {
		h = append(h, 0xBE, 0xDE, byte(len(ext)/4>>8), byte(len(ext)/4))
		h = append(h, ext...)
	}
	return h
}

// sealAndSend encrypts a packet with a bot session's key and sends it to the bot's address.
// Video (built with the default payload types of VP8 or H.264) goes only to a session that
// asked for it (op 15) and announced its codec, under that session's payload type.
func (s *Server) sealAndSend(sess *session, header, payload []byte) {
	if codec := videoCodecOfPT(defaultVideoPTs, header[1]&0x7f); codec != "" {
		ssrc := binary.BigEndian.Uint32(header[8:12])
		s.mu.Lock()
		pt, known := sess.videoPTs[codec]
		wanted := known && sess.wantsVideoLocked(ssrc)
		if !wanted {
			s.counters.VideoWithheld++
		}
		s.mu.Unlock()
		if !wanted {
			return
		}
		if pt != header[1]&0x7f {
			header = slices.Clone(header)
			header[1] = header[1]&0x80 | pt
		}
	}
	sess.sendMu.Lock()
	packet, err := sess.sealer.Seal(nil, header, payload)
	sess.sendMu.Unlock()
	if err != nil {
		s.log.Error("voiceserver: seal", "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.invalid {
		return
	}
	s.writeToLocked(packet, sess.botAddr)
}
