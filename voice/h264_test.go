package voice_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/voice/dave"
)

// readH264Clip returns testdata/media/clip.h264: 1 s of libx264 constrained baseline at
// 160x120, 30 fps, an IDR every 10 frames with SPS and PPS before it.
func readH264Clip(t testing.TB) [][]byte {
	t.Helper()
	info, frames, err := voice.ReadH264File(mediaPath("clip.h264"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 160 || info.Height != 120 || !info.Keyframe || info.ProfileLevelID[:2] != "42" {
		t.Fatalf("clip info %+v", info)
	}
	return frames
}

func TestReadH264File(t *testing.T) {
	frames := readH264Clip(t)
	if len(frames) != 30 {
		t.Fatalf("%d access units, want 30", len(frames))
	}
	for i, f := range frames {
		info, err := voice.ParseH264Frame(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if info.Keyframe != (i%10 == 0) {
			t.Fatalf("frame %d: keyframe %v", i, info.Keyframe)
		}
		if info.Keyframe && (info.Width != 160 || info.Height != 120) {
			t.Fatalf("frame %d: %dx%d", i, info.Width, info.Height)
		}
		if !bytes.HasPrefix(f, []byte{0, 0, 0, 1}) {
			t.Fatalf("frame %d does not start with a long start code", i)
		}
	}
	// The frames are the file's bytes, start codes made long.
	raw, err := os.ReadFile(mediaPath("clip.h264"))
	if err != nil {
		t.Fatal(err)
	}
	norm, err := voice.NormalizeH264Frame(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.Join(frames, nil), norm) {
		t.Fatal("the access units do not add up to the file")
	}

	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty.h264":   nil,
		"nostart.h264": bytes.Repeat([]byte{0x65, 1, 2}, 10),
		"sps-only":     {0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0d, 0xda},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := voice.ReadH264File(p); err == nil || !errors.Is(err, voice.ErrBadH264Frame) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := voice.ReadH264File(filepath.Join(dir, "missing.h264")); err == nil {
		t.Error("a missing file is read")
	}
}

// TestH264PacketizeAndAssemble: the clip packetized by pion's payloader reassembles into the same
// access units; a lost packet spoils its frame only (and the next when the lost one carried the
// marker), never delivering a damaged frame.
func TestH264PacketizeAndAssemble(t *testing.T) {
	frames := readH264Clip(t)
	type pkt struct {
		seq    uint16
		ts     uint32
		marker bool
		data   []byte
	}
	var pkts []pkt
	var p codecs.H264Payloader
	seq := uint16(65530) // wraps
	for i, f := range frames {
		parts := p.Payload(600, f)
		for j, part := range parts {
			pkts = append(pkts, pkt{seq, uint32(i * 3000), j == len(parts)-1, part})
			seq++
		}
	}
	var a voice.H264Assembler
	var got [][]byte
	for _, k := range pkts {
		if f, ok := a.Push(k.seq, k.ts, k.marker, k.data); ok {
			got = append(got, bytes.Clone(f))
		}
	}
	if !slices.EqualFunc(got, frames, bytes.Equal) || a.Dropped != 0 {
		t.Fatalf("reassembled %d frames (dropped %d), want the clip's %d", len(got), a.Dropped, len(frames))
	}

	// Lose the second packet of frame 0 (an IDR spread over many) and frame 5's last.
	a = voice.H264Assembler{}
	got = got[:0]
	lostMid, lostEnd := 1, -1
	for i, k := range pkts {
		if k.ts == 5*3000 && k.marker {
			lostEnd = i
		}
	}
	for i, k := range pkts {
		if i == lostMid || i == lostEnd {
			continue
		}
		if f, ok := a.Push(k.seq, k.ts, k.marker, k.data); ok {
			got = append(got, bytes.Clone(f))
		}
	}
	var want [][]byte
	for i, f := range frames {
		if i != 0 && i != 5 && i != 6 {
			want = append(want, f)
		}
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("with loss: %d frames, want %d", len(got), len(want))
	}
	if a.Dropped < 2 {
		t.Fatalf("dropped %d", a.Dropped)
	}
}

// TestE2EEH264: H.264 crosses the emulator end-to-end encrypted both ways: a bot plays the
// clip, which another bot receives frame for frame (codec H264, keyframes flagged), and an
// emulated user's H.264 reaches the bot the same way; on the wire the slices are DAVE frames.
func TestE2EEH264(t *testing.T) {
	const otherBot = "100000000000000004"
	h := newVoiceHarness(t, nil)
	rec := newRecorder(t)
	events := newEventLog()
	receiver := h.dial(voice.Config{Media: rec, OnEvent: events.record})
	sender := h.dialAs(otherBot, "gateway-session-2", voice.Config{})
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserA)
	if err != nil {
		t.Fatal(err)
	}
	waitE2EE(t, receiver, u)
	// The group may move on while the sender catches up: same epoch as the receiver's now.
	waitFor(t, "the sender in the receiver's epoch", 20*time.Second, func() bool {
		s, r := sender.DAVE(), receiver.DAVE()
		return s != nil && r != nil && s.Ready() && r.Ready() && s.Epoch() == r.Epoch() && s.PrivacyCode() == r.PrivacyCode()
	})
	if c := receiver.VideoCodec(); c != voice.CodecVP8 {
		t.Fatalf("session video codec %q", c)
	}
	frames := readH264Clip(t)
	if _, err := sender.PlayH264(context.Background(), frames, 60); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relayed H.264", 20*time.Second, func() bool { return len(rec.VideoFrames(otherBot)) >= len(frames) })
	if got := rec.VideoFrames(otherBot); !slices.EqualFunc(got, frames, bytes.Equal) {
		t.Fatalf("the receiver got %d frames, not the clip's %d (or they differ)", len(got), len(frames))
	}
	var sawEncrypted bool
	for _, p := range h.vs.Received(sender.SSRC() + 1) {
		if p.PayloadType != voice.PayloadTypeH264 {
			t.Fatalf("video sent with payload type %d", p.PayloadType)
		}
		if p.Marker && dave.IsProtocolFrame(p.Payload) {
			sawEncrypted = true
		}
	}
	if !sawEncrypted {
		t.Fatal("no frame crossed the server as a DAVE frame")
	}

	report, err := u.SendH264(context.Background(), frames, voiceserver.SendOptions{Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.FramesDelivered) != len(frames) {
		t.Fatalf("report %+v", report)
	}
	waitFor(t, "the user's H.264", 20*time.Second, func() bool { return len(rec.VideoFrames(u.ID)) >= len(frames) })
	if got := rec.VideoFrames(u.ID); !slices.EqualFunc(got, frames, bytes.Equal) {
		t.Fatal("the user's frames arrive altered")
	}
	if st := receiver.Stats(); st.Undecryptable != 0 {
		t.Fatalf("receiver stats %+v", st)
	}
}

// TestH264CameraKeyframeOnRequest: an emulated user's H.264 camera reaches the bot starting at an
// IDR, and the bot's picture loss indication brings the next IDR long before the clip's own.
func TestH264CameraKeyframeOnRequest(t *testing.T) {
	h := newVoiceHarness(t, nil)
	keys := make(chan bool, 1024)
	rec := newRecorder(t)
	conn := h.dial(voice.Config{Media: mediaTap{rec, func(f *voice.VideoFrame) {
		if f.Codec != voice.CodecH264 {
			t.Errorf("frame of codec %q", f.Codec)
		}
		keys <- f.Keyframe
	}}})
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserA)
	if err != nil {
		t.Fatal(err)
	}
	waitE2EE(t, conn, u)
	// One IDR, then 59 P frames: the clip's own next IDR is 60 frames away.
	clip := readH264Clip(t)
	gop := [][]byte{clip[0]}
	for len(gop) < 60 {
		gop = append(gop, clip[1:10]...)
	}
	if err := u.StartCamera(gop[:60], 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.StopCamera() })
	if first := <-keys; !first {
		t.Fatal("the first frame is not an IDR")
	}
	for range 5 {
		if <-keys {
			t.Fatal("an IDR among the first P frames")
		}
	}
	if err := conn.RequestKeyframe(u.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for n := 0; ; n++ {
		select {
		case k := <-keys:
			if k {
				if n > 30 {
					t.Fatalf("the IDR came %d frames after the request", n)
				}
				return
			}
		case <-deadline:
			t.Fatal("no IDR after the picture loss indication")
		}
	}
}

// mediaTap passes media to a recorder and shows each video frame to fn.
type mediaTap struct {
	*voice.Recorder
	fn func(*voice.VideoFrame)
}

func (m mediaTap) HandleVideo(f *voice.VideoFrame) {
	m.fn(f)
	m.Recorder.HandleVideo(f)
}
