package voiceserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/voice/dave"
)

// liveMedia is a user's running camera and microphone.
type liveMedia struct {
	mu          sync.Mutex
	camera, mic *liveLoop
}

type liveLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *liveLoop) stop() {
	l.cancel()
	<-l.done
}

// ErrNotStreaming is returned by StopCamera and StopMic when nothing runs.
var ErrNotStreaming = errors.New("voiceserver: not streaming")

// StartCamera makes the user a live camera: it announces the video (op 12), then sends frames,
// a clip looped, one per interval (default 33 ms) to every bot in the call that asked for
// video (op 15), end-to-end encrypted when the call has a DAVE group. The clip is VP8 frames,
// or H.264 access units (Annex B, told by their start code), sent in that codec as Discord's
// clients do (SendVP8, SendH264); a bot that did not announce the codec in op 1 gets none. Like
// an encoder, it starts at a keyframe (an IDR for H.264) whenever a receiver needs one: after a
// bot's picture loss indication or full intra request, when a bot starts receiving, and after a
// pause (no receiver, or the DAVE group settling); it then jumps to the clip's next keyframe.
func (u *User) StartCamera(frames [][]byte, interval time.Duration) error {
	codec := codecVP8
	if isH264Clip(frames) {
		codec = codecH264
		norm := make([][]byte, len(frames))
		for i, f := range frames {
			n, err := voice.NormalizeH264Frame(nil, f)
			if err != nil {
				return fmt.Errorf("voiceserver: camera frame %d: %w", i, err)
			}
			norm[i] = n
		}
		frames = norm
	}
	keys := make([]int, 0, 8)
	for i, f := range frames {
		if clipKeyframe(codec, f) {
			keys = append(keys, i)
		}
	}
	if len(keys) == 0 {
		return errors.New("voiceserver: the clip has no keyframe")
	}
	if interval <= 0 {
		interval = 33 * time.Millisecond
	}
	if err := u.SetVideo(true); err != nil {
		return err
	}
	return u.startLoop(&u.live.camera, func(ctx context.Context) {
		u.cameraLoop(ctx, codec, frames, keys, interval)
	})
}

// StopCamera stops the camera and withdraws the video (op 12).
func (u *User) StopCamera() error {
	if !u.stopLoop(&u.live.camera) {
		return ErrNotStreaming
	}
	return u.SetVideo(false)
}

// StartMic makes the user speak: op 5, then the Opus packets, looped, every 20 ms to every bot
// in the call that set up media.
func (u *User) StartMic(packets [][]byte) error {
	if len(packets) == 0 {
		return errors.New("voiceserver: no packets to play")
	}
	for _, p := range packets {
		if _, err := voice.OpusPacketSamples(p); err != nil {
			return err
		}
	}
	if err := u.SetSpeaking(1); err != nil {
		return err
	}
	return u.startLoop(&u.live.mic, func(ctx context.Context) { u.micLoop(ctx, packets) })
}

// StopMic stops the microphone and says the user stopped speaking (op 5).
func (u *User) StopMic() error {
	if !u.stopLoop(&u.live.mic) {
		return ErrNotStreaming
	}
	return u.SetSpeaking(0)
}

// Live reports whether the user's camera and microphone run.
func (u *User) Live() (camera, mic bool) {
	u.live.mu.Lock()
	defer u.live.mu.Unlock()
	return u.live.camera != nil, u.live.mic != nil
}

func (u *User) startLoop(slot **liveLoop, run func(context.Context)) error {
	u.live.mu.Lock()
	defer u.live.mu.Unlock()
	if *slot != nil {
		return errors.New("voiceserver: already streaming")
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &liveLoop{cancel: cancel, done: make(chan struct{})}
	*slot = l
	go func() {
		defer close(l.done)
		run(ctx)
	}()
	return nil
}

func (u *User) stopLoop(slot **liveLoop) bool {
	u.live.mu.Lock()
	l := *slot
	*slot = nil
	u.live.mu.Unlock()
	if l == nil {
		return false
	}
	l.stop()
	return true
}

// receivers returns the sessions in the user's call that take their media: set up, and for
// video, asked for it.
func (u *User) receivers(video bool) []*session {
	s := u.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	if u.left {
		return nil
	}
	for _, sess := range s.sessionsInCallLocked(u.GuildID, u.ChannelID) {
		if sess.botAddr != nil && sess.sealer != nil && (!video || sess.wantsVideoLocked(u.VideoSSRC)) {
			out = append(out, sess)
		}
	}
	return out
}

// readyToSend reports whether the user's frames can be read by the others: no DAVE group, or
// a settled one.
func (u *User) readyToSend() bool {
	e, settled := u.e2eeSettled()
	return e == nil || settled
}

func (u *User) cameraLoop(ctx context.Context, codec string, frames [][]byte, keys []int, interval time.Duration) {
	ext := []byte{5<<4 | 2, 0, 0, 0}
	known := map[*session]bool{}
	needKey := true
	i := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		// Every session set up gets the frames (sealAndSend withholds them from those that did
		// not ask); a session that starts taking them starts at a keyframe.
		targets := u.receivers(false)
		takers := u.receivers(true)
		for _, t := range takers {
			if !known[t] {
				needKey = true
			}
		}
		clear(known)
		for _, t := range takers {
			known[t] = true
		}
		if u.keyframeWanted.Swap(false) {
			needKey = true
		}
		if len(takers) == 0 {
			needKey = true
		}
		if len(targets) == 0 || !u.readyToSend() {
			needKey = true
		} else {
			if needKey {
				i = nextKey(keys, i, len(frames))
				needKey = false
			}
			// Only this frame's takers get it: one that asked meanwhile starts at the next
			// frame, a keyframe.
			packets := u.sendVideoFrame(takers, codec, frames[i], ext)
			u.srv.mu.Lock()
			u.srv.counters.VideoWithheld += packets * (len(targets) - len(takers))
			u.srv.mu.Unlock()
			i = (i + 1) % len(frames)
		}
		u.sendMu.Lock()
		u.videoTS += uint32(interval.Seconds() * voice.VideoClockRate)
		u.sendMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-u.stopped:
			return
		case <-tick.C:
		}
	}
}

// nextKey returns the index of the first keyframe at or after i (wrapping).
func nextKey(keys []int, i, n int) int {
	for _, k := range keys {
		if k >= i%n {
			return k
		}
	}
	return keys[0]
}

// sendVideoFrame sends one frame to targets and returns how many packets it took.
func (u *User) sendVideoFrame(targets []*session, codec string, f, ext []byte) int {
	dc, pt := dave.CodecVP8, uint8(voice.PayloadTypeVP8)
	if codec == codecH264 {
		dc, pt = dave.CodecH264, voice.PayloadTypeH264
	}
	frame, err := u.protect(dc, f)
	if err != nil {
		u.srv.log.Error("voiceserver: camera frame encryption", "user_id", u.ID, "error", err)
		return 0
	}
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	var parts [][]byte
	if codec == codecH264 {
		parts = u.h264.Payload(1100, frame)
	} else {
		parts = u.vp8.Payload(1100, frame)
	}
	for j, part := range parts {
		header := rtpHeader(j == len(parts)-1, pt, u.videoSeq, u.videoTS, u.VideoSSRC, ext)
		u.videoSeq++
		for _, t := range targets {
			u.srv.sealAndSend(t, header, part)
		}
	}
	return len(parts)
}

func (u *User) micLoop(ctx context.Context, packets [][]byte) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(packets) {
		p := packets[i]
		samples, _ := voice.OpusPacketSamples(p)
		targets := u.receivers(false)
		if len(targets) > 0 && u.readyToSend() {
			if frame, err := u.protect(dave.CodecOpus, p); err == nil {
				u.sendMu.Lock()
				header := rtpHeader(false, voice.PayloadTypeOpus, u.audioSeq, u.audioTS, u.SSRC, nil)
				u.audioSeq++
				for _, t := range targets {
					u.srv.sealAndSend(t, header, frame)
				}
				u.sendMu.Unlock()
			}
		}
		u.sendMu.Lock()
		u.audioTS += uint32(samples)
		u.sendMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-u.stopped:
			return
		case <-tick.C:
		}
	}
}
