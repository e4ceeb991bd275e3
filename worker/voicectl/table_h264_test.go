package voicectl

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/relay/relaytest"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/webhook"
)

// TestTableViewH264Member: a member whose camera sends H.264 is relayed to a viewer as H.264,
// frame for frame, from the emulator's voice server (DAVE on) through the bot; a picture loss
// indication from the viewer brings an IDR long before the camera's own next one.
func TestTableViewH264Member(t *testing.T) {
	e := newEndpointWith(t, harnessOptions{mutate: func(c *Config) {
		c.Table = &relay.Config{ListenIP: "127.0.0.1", KeyframeInterval: 10 * time.Millisecond}
		c.TableIdleTimeout = time.Minute
	}}, webhook.SchemeCoven, testSecret, nil)
	h := e.harness
	_, clip, err := voice.ReadH264File("../../voice/testdata/media/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	// One IDR, then 299 P frames: at 10 ms a frame, the camera's own IDRs are 3 s apart.
	gop := [][]byte{clip[0]}
	for len(gop) < 300 {
		gop = append(gop, clip[1:10]...)
	}
	gop = gop[:300]
	u, err := h.vs.JoinUser(testGuild, testRoom, testUser2)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.StartCamera(gop, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.StopCamera() })
	isIDR := func(f []byte) bool {
		info, err := voice.ParseH264Frame(f)
		return err == nil && info.Keyframe
	}

	v := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	a, err := e.client.Watch(context.Background(), WatchRequest{RoomID: testRoom, MemberID: testUser2, ViewerID: testUser1, Offer: v.Offer})
	if err != nil {
		t.Fatal(err)
	}
	v.Answer(t, a.Answer)
	relaytest.WaitFor(t, "the member's H.264 from an IDR on", 20*time.Second, func() bool {
		return slices.ContainsFunc(v.Frames(), isIDR) && len(v.Frames()) >= 10
	})
	frames, codecs := v.Frames(), v.FrameCodecs()
	for i, f := range frames {
		if codecs[i] != "H264" || !slices.ContainsFunc(clip, func(c []byte) bool { return bytes.Equal(c, f) }) {
			t.Fatalf("frame %d (%s, %d bytes) is not one of the camera's", i, codecs[i], len(f))
		}
	}
	// Past the IDR, ask for another: it comes long before the camera's own, 300 frames on.
	relaytest.WaitFor(t, "P frames after the IDR", 20*time.Second, func() bool {
		f := v.Frames()
		return len(f) > 5 && !isIDR(f[len(f)-1]) && !isIDR(f[len(f)-2])
	})
	requests := h.vs.Counters().KeyframeRequests
	asked := len(v.Frames())
	v.RequestKeyframe(t)
	relaytest.WaitFor(t, "an IDR after the viewer's picture loss indication", 20*time.Second, func() bool {
		return slices.ContainsFunc(v.Frames()[asked:], isIDR)
	})
	if n := slices.IndexFunc(v.Frames()[asked:], isIDR); n > 100 {
		t.Fatalf("the IDR came %d frames after the request: not an answer to it", n)
	}
	if h.vs.Counters().KeyframeRequests <= requests {
		t.Fatal("no keyframe request reached the voice server")
	}
}
