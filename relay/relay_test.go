package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spellcoven/gateway/relay/relaytest"
)

// testRelay starts a relay on loopback.
func testRelay(t *testing.T, cfg Config) *Relay {
	t.Helper()
	cfg.ListenIP = "127.0.0.1"
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// keyframe is a VP8 keyframe of 3000 bytes (three packets), marked by its number.
func keyframe(n byte) []byte {
	f := bytes.Repeat([]byte{n}, 3000)
	f[0] = 0x10 // frame tag: keyframe, show_frame
	f[3], f[4], f[5] = 0x9d, 0x01, 0x2a
	return f
}

// feed writes frames and audio for member until done says stop, or the deadline passes.
func feed(t *testing.T, rm *Room, member string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !done(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the viewer received nothing within 20 s")
		}
		rm.WriteVideo(member, uint32(i*3000), keyframe(byte(i)))
		rm.WriteAudio(member, uint32(i*960), []byte{0xf8, 0xff, 0xfe, byte(i)})
		time.Sleep(10 * time.Millisecond) // pacing the source, as the voice connection does
	}
}

func TestViewerReceivesTheMembersCameraAndVoice(t *testing.T) {
	asked := make(chan string, 16)
	r := testRelay(t, Config{OnKeyframeRequest: func(room, user string) bool { asked <- room + "/" + user; return true }})
	v := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	s, answer, err := r.Watch(context.Background(), "room1", "111", "viewer1", v.Offer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "VP8/90000") {
		t.Fatalf("answer lacks candidates or VP8:\n%s", answer)
	}
	v.Answer(t, answer)
	feed(t, r.Room("room1"), "111", func() bool {
		return len(v.Frames()) >= 3 && len(v.Audio()) >= 3
	})
	for _, f := range v.Frames() {
		if len(f) != 3000 || f[0] != 0x10 || !bytes.Equal(f[6:], bytes.Repeat([]byte{f[6]}, 2994)) {
			t.Fatalf("a frame arrived altered: %d bytes, starts % x", len(f), f[:8])
		}
	}
	if v.StreamID("video") != "111" || v.StreamID("audio") != "111" {
		t.Errorf("stream ids %q, %q, want the member's user id", v.StreamID("video"), v.StreamID("audio"))
	}
	select {
	case got := <-asked:
		if got != "room1/111" {
			t.Errorf("keyframe asked for %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a connected viewer did not ask for a keyframe")
	}
	if all, room := r.Sessions("room1"); all != 1 || room != 1 {
		t.Errorf("sessions %d, %d", all, room)
	}
	if err := r.Stop(s.ID, "someone else"); !errors.Is(err, ErrNotYours) {
		t.Errorf("stop by another viewer: %v", err)
	}
	if err := r.Stop(s.ID, "viewer1"); err != nil {
		t.Fatal(err)
	}
	<-s.Ended()
	if err := r.Stop(s.ID, "viewer1"); !errors.Is(err, ErrNoSession) {
		t.Errorf("stop twice: %v", err)
	}
	if all, _ := r.Sessions(""); all != 0 {
		t.Errorf("%d sessions after stop", all)
	}
}

func TestAudioOnlyOffer(t *testing.T) {
	r := testRelay(t, Config{})
	v := relaytest.NewViewer(t, relaytest.Audio)
	_, answer, err := r.Watch(context.Background(), "room1", "222", "viewer1", v.Offer)
	if err != nil {
		t.Fatal(err)
	}
	v.Answer(t, answer)
	feed(t, r.Room("room1"), "222", func() bool { return len(v.Audio()) >= 3 })
}

func TestOffersRefused(t *testing.T) {
	r := testRelay(t, Config{})
	video := relaytest.NewViewer(t, relaytest.Video).Offer
	noVideo := strings.NewReplacer("VP8/90000", "VP9/90000", "H264/90000", "AV1/90000").Replace(video)
	sendOnly := strings.ReplaceAll(video, "a=recvonly", "a=sendonly")
	for name, c := range map[string]struct {
		offer string
		want  error
	}{
		"empty":       {"", ErrBadOffer},
		"not sdp":     {"hello", ErrBadOffer},
		"no media":    {"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", ErrNothingToReceive},
		"no vp8/h264": {noVideo, ErrNothingToReceive},
		"only sends":  {sendOnly, ErrNothingToReceive},
		"truncated":   {video[:len(video)/2] + "\r\nm=video x", ErrBadOffer},
		"not an sdp2": {"v=0\r\nzzz", ErrBadOffer},
	} {
		_, _, err := r.Watch(context.Background(), "room1", "1", "v", c.offer)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if all, _ := r.Sessions(""); all != 0 {
		t.Errorf("refused offers left %d sessions", all)
	}
}

func TestLimits(t *testing.T) {
	r := testRelay(t, Config{MaxSessions: 2, MaxSessionsPerViewer: 1})
	if _, _, err := r.Watch(context.Background(), "room1", "1", "a", relaytest.NewViewer(t, relaytest.Video).Offer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Watch(context.Background(), "room1", "2", "a", relaytest.NewViewer(t, relaytest.Video).Offer); !errors.Is(err, ErrViewerLimit) {
		t.Fatalf("second session of one viewer: %v", err)
	}
	if _, _, err := r.Watch(context.Background(), "room1", "2", "b", relaytest.NewViewer(t, relaytest.Video).Offer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Watch(context.Background(), "room1", "3", "c", relaytest.NewViewer(t, relaytest.Video).Offer); !errors.Is(err, ErrFull) {
		t.Fatalf("third session: %v", err)
	}
}

func TestUnconnectedSessionEnds(t *testing.T) {
	changes := make(chan int, 8)
	r := testRelay(t, Config{ConnectTimeout: 300 * time.Millisecond, OnSessionsChange: func(_ string, n int) { changes <- n }})
	s, _, err := r.Watch(context.Background(), "room1", "1", "a", relaytest.NewViewer(t, relaytest.Video).Offer)
	if err != nil {
		t.Fatal(err)
	}
	// The viewer never applies the answer.
	select {
	case <-s.Ended():
	case <-time.After(20 * time.Second):
		t.Fatal("an unconnected session outlived its connect timeout")
	}
	if s.Reason() != "not connected in time" {
		t.Errorf("reason %q", s.Reason())
	}
	if a, b := <-changes, <-changes; a != 1 || b != 0 {
		t.Errorf("session counts %d then %d", a, b)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []Config{
		{ListenIP: "localhost"}, {PublicIPs: []string{"example.com"}}, {UDPPort: 70000},
		{TCPPort: -2}, {MaxSessions: -1}, {ConnectTimeout: -1},
	} {
		if r, err := New(c); err == nil {
			r.Close()
			t.Errorf("%+v accepted", c)
		}
	}
	// A port in use is reported.
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r, err := New(Config{ListenIP: "127.0.0.1", UDPPort: l.LocalAddr().(*net.UDPAddr).Port}); err == nil {
		r.Close()
		t.Error("a UDP port in use was accepted")
	}
}

// TestQueueLengthDropsAndAsksForAKeyframe: a member's writer that falls QueueLength items
// behind drops the newest, counts them, and asks for a keyframe (the frames after a dropped one
// cannot be decoded).
func TestQueueLengthDropsAndAsksForAKeyframe(t *testing.T) {
	held, entered := make(chan struct{}), make(chan struct{}, 8)
	asked := make(chan string, 4)
	r := testRelay(t, Config{
		QueueLength:       2,
		OnForward:         func(time.Duration, int) { entered <- struct{}{}; <-held },
		OnKeyframeRequest: func(_, user string) bool { asked <- user; return true },
	})
	rm := r.Room("room1")
	rm.WriteVideo("7", 0, keyframe(0))
	<-entered // the writer holds the first frame
	for i := 1; i < 5; i++ {
		rm.WriteVideo("7", uint32(i), keyframe(byte(i)))
	}
	// One in the writer (held), two queued: two dropped.
	relaytest.WaitFor(t, "drops counted", 10*time.Second, func() bool {
		media := rm.Media()
		return len(media) == 1 && media[0].Dropped == 2 && media[0].VideoFrames == 5
	})
	select {
	case u := <-asked:
		if u != "7" {
			t.Errorf("keyframe asked of %q", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a dropped frame asked for no keyframe")
	}
	close(held)
}

// A keyframe request that could not go out (the call does not know the camera yet) is made again
// by the camera's next frame, without waiting for KeyframeInterval; while none has come, frames ask
// again (at most once per interval); a keyframe ends the wait.
func TestKeyframeAskedUntilOneComes(t *testing.T) {
	var sent atomic.Bool
	asked := make(chan bool, 64)
	r := testRelay(t, Config{KeyframeInterval: time.Hour, OnKeyframeRequest: func(_, _ string) bool {
		ok := sent.Load()
		asked <- ok
		return ok
	}})
	rm := r.Room("room1")
	rm.WriteVideo("7", 0, keyframe(0)) // the member's tracks exist; nothing is wanted yet
	m := rm.member("7")
	state := func() (wanted, throttled bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.kfWanted, !m.lastKFAsked.IsZero()
	}
	if wanted, _ := state(); wanted {
		t.Fatal("a keyframe is wanted before anyone asked")
	}
	next := func(want bool) {
		t.Helper()
		select {
		case ok := <-asked:
			if ok != want {
				t.Fatalf("request sent = %v, want %v", ok, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no keyframe request")
		}
	}
	rm.askKeyframe("7") // a viewer connects while the call does not know the camera
	next(false)
	relaytest.WaitFor(t, "the unsent request to release the interval", 10*time.Second, func() bool {
		_, throttled := state()
		return !throttled
	})
	sent.Store(true)
	delta := keyframe(1)
	delta[0] = 0x11 // an interframe
	rm.WriteVideo("7", 1, delta)
	next(true) // at once, though the interval is an hour
	rm.WriteVideo("7", 2, delta)
	if wanted, throttled := state(); !wanted || !throttled {
		t.Fatalf("after a sent request and an interframe: wanted %v, throttled %v", wanted, throttled)
	}
	rm.WriteVideo("7", 3, keyframe(3))
	if wanted, _ := state(); wanted {
		t.Error("a keyframe came and one is still wanted")
	}
	if n := len(asked); n != 0 {
		t.Errorf("%d more requests within the interval", n)
	}
}

func TestKeyframeDetection(t *testing.T) {
	for _, tt := range []struct {
		name string
		it   media
		want bool
	}{
		{"VP8 keyframe", media{video: true, data: []byte{0x10, 0, 0, 0x9d, 0x01, 0x2a}}, true},
		{"VP8 interframe", media{video: true, data: []byte{0x11, 0, 0}}, false},
		{"VP8 empty", media{video: true}, false},
		{"H.264 SPS PPS IDR", media{video: true, h264: true, data: []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 1, 0, 0, 1, 0x65, 0x88}}, true},
		{"H.264 non-IDR slice", media{video: true, h264: true, data: []byte{0, 0, 0, 1, 0x41, 0x9a}}, false},
	} {
		if got := tt.it.keyframe(); got != tt.want {
			t.Errorf("%s: keyframe = %v, want %v", tt.name, got, tt.want)
		}
	}
}
