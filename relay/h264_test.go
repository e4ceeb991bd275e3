package relay

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/voice"
)

// h264Clip is the voice package's test clip: 30 access units of libx264 constrained baseline,
// 160x120, an IDR every 10 frames.
func h264Clip(t *testing.T) [][]byte {
	t.Helper()
	_, frames, err := voice.ReadH264File("../voice/testdata/media/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// feedH264 writes the clip (looped) and audio for member until done says stop.
func feedH264(t *testing.T, rm *Room, member string, clip [][]byte, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !done(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the viewer received too little within 20 s")
		}
		rm.WriteH264(member, uint32(i*3000), clip[i%len(clip)])
		rm.WriteAudio(member, uint32(i*960), []byte{0xf8, 0xff, 0xfe, byte(i)})
		time.Sleep(10 * time.Millisecond)
	}
}

// TestViewerReceivesH264: a member's H.264 camera reaches a viewer whose offer takes H.264
// (packetization-mode 1) as the same access units, and the viewer's picture loss indication is
// passed on as a keyframe request.
func TestViewerReceivesH264(t *testing.T) {
	asked := make(chan string, 64)
	r := testRelay(t, Config{KeyframeInterval: time.Millisecond, OnKeyframeRequest: func(_, user string) bool { asked <- user; return true }})
	clip := h264Clip(t)
	rm := r.Room("room1")
	rm.WriteH264("111", 0, clip[0]) // the camera is known to send H.264 before the viewer comes
	v := relaytest.NewViewerWith(t, relaytest.Options{VideoCodecs: []string{webrtc.MimeTypeVP8, webrtc.MimeTypeH264}}, relaytest.Video, relaytest.Audio)
	s, answer, err := r.Watch(context.Background(), "room1", "111", "viewer1", v.Offer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "H264/90000") || !strings.Contains(answer, "packetization-mode=1") {
		t.Fatalf("the answer lacks H.264:\n%s", answer)
	}
	if c := s.VideoCodec(); c != "H264" {
		t.Fatalf("session sends %q", c)
	}
	v.Answer(t, answer)
	select {
	case <-asked: // asked once connected
	case <-time.After(10 * time.Second):
		t.Fatal("a connected viewer did not ask for a keyframe")
	}
	feedH264(t, rm, "111", clip, func() bool { return len(v.Frames()) >= len(clip)+5 })
	frames, codecs := v.Frames(), v.FrameCodecs()
	// Frames the viewer got whole are the clip's, in order.
	next := -1
	for i, f := range frames {
		if codecs[i] != "H264" {
			t.Fatalf("frame %d in %s", i, codecs[i])
		}
		j := slices.IndexFunc(clip, func(c []byte) bool { return bytes.Equal(c, f) })
		if j < 0 {
			t.Fatalf("frame %d (%d bytes) is none of the clip's", i, len(f))
		}
		if next >= 0 && j != next {
			t.Fatalf("frame %d is the clip's %d, want %d", i, j, next)
		}
		next = (j + 1) % len(clip)
	}
	for len(asked) > 0 {
		<-asked
	}
	v.RequestKeyframe(t)
	select {
	case u := <-asked:
		if u != "111" {
			t.Fatalf("keyframe asked of %q", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer's picture loss indication asked for no keyframe")
	}
}

// TestCodecSwitchWithoutANewOffer: a viewer offering VP8 and H.264 gets the member's VP8, then,
// when the camera turns H.264, its H.264 on the same track; a viewer offering VP8 only keeps its
// session (and the voice) but gets no H.264.
func TestCodecSwitchWithoutANewOffer(t *testing.T) {
	r := testRelay(t, Config{})
	rm := r.Room("room1")
	both := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio) // pion's defaults, VP8 first
	vp8Only := relaytest.NewViewerWith(t, relaytest.Options{VideoCodecs: []string{webrtc.MimeTypeVP8}}, relaytest.Video, relaytest.Audio)
	var sessions []*Session
	for i, v := range []*relaytest.Viewer{both, vp8Only} {
		s, answer, err := r.Watch(context.Background(), "room1", "111", "viewer"+string(rune('1'+i)), v.Offer)
		if err != nil {
			t.Fatal(err)
		}
		v.Answer(t, answer)
		sessions = append(sessions, s)
	}
	feed(t, rm, "111", func() bool { return len(both.Frames()) >= 3 && len(vp8Only.Frames()) >= 3 })
	clip := h264Clip(t)
	feedH264(t, rm, "111", clip, func() bool {
		return slices.Contains(both.FrameCodecs(), "H264") && len(vp8Only.Audio()) > 40
	})
	if c := sessions[0].VideoCodec(); c != "H264" {
		t.Fatalf("the viewer of both codecs is sent %q", c)
	}
	if c := sessions[1].VideoCodec(); c != "VP8" {
		t.Fatalf("the VP8 viewer is sent %q", c)
	}
	if slices.Contains(vp8Only.FrameCodecs(), "H264") {
		t.Fatal("H.264 reached a viewer that did not offer it")
	}
	for i, c := range both.FrameCodecs() {
		if c == "H264" && !slices.ContainsFunc(clip, func(f []byte) bool { return bytes.Equal(f, both.Frames()[i]) }) {
			t.Fatalf("H.264 frame %d altered", i)
		}
	}
	if sessions[1].Reason() != "" {
		t.Fatalf("the VP8 viewer's session ended: %s", sessions[1].Reason())
	}
}

func TestOfferH264Requirements(t *testing.T) {
	for name, opts := range map[string]relaytest.Options{
		"H.264 in packetization-mode 0 only": {VideoCodecs: []string{webrtc.MimeTypeH264}, H264PacketizationMode0: true},
		"VP9 only":                           {VideoCodecs: []string{webrtc.MimeTypeVP9}},
	} {
		v := relaytest.NewViewerWith(t, opts, relaytest.Video)
		r := testRelay(t, Config{})
		if err := r.CheckOffer(v.Offer); !errors.Is(err, ErrNothingToReceive) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for fmtp, want := range map[string]bool{
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f": true,
		"packetization-mode=1;profile-level-id=42001f":                           true,
		"packetization-mode=1;profile-level-id=4d801f":                           true, // main with constraint_set0: constrained baseline
		"packetization-mode=1;profile-level-id=4d001f":                           false,
		"packetization-mode=1;profile-level-id=640c1f":                           false,
		"packetization-mode=0;profile-level-id=42e01f":                           false,
		"profile-level-id=42e01f":                                                false,
	} {
		if got := offerH264(fmtp); got != want {
			t.Errorf("%s: %v, want %v", fmtp, got, want)
		}
	}
}
