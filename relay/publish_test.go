package relay

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/spellcoven/gateway/relay/relaytest"
)

// publish starts a publisher of member's board in room, connected.
func publish(t *testing.T, r *Relay, room, member string) (*Publisher, *relaytest.Publisher) {
	t.Helper()
	pub := relaytest.NewPublisher(t, true)
	p, answer, err := r.Publish(context.Background(), room, member, SourceBoard, pub.Offer)
	if err != nil {
		t.Fatal(err)
	}
	pub.Answer(t, answer)
	return p, pub
}

// sendUntil writes frames from pub until done says stop.
func sendUntil(t *testing.T, pub *relaytest.Publisher, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !done(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the viewer received nothing within 20 s")
		}
		_ = pub.WriteFrame(keyframe(byte(i)))
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishedBoardReachesViewers(t *testing.T) {
	r := testRelay(t, Config{KeyframeInterval: 50 * time.Millisecond})
	p, pub := publish(t, r, "room1", "111")
	if srcs := r.Sources("room1"); len(srcs) != 1 || srcs[0].UserID != "111" || srcs[0].Kind != SourceBoard {
		t.Fatalf("sources %+v", srcs)
	}
	v := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
	s, answer, err := r.WatchSource(context.Background(), "room1", "111", SourceBoard, "viewer1", v.Offer)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceBoard {
		t.Errorf("session source %q", s.Source)
	}
	v.Answer(t, answer)
	sendUntil(t, pub, func() bool { return len(v.Frames()) >= 3 })
	for _, f := range v.Frames() {
		if len(f) != 3000 || f[0] != 0x10 || !bytes.Equal(f[6:], bytes.Repeat([]byte{f[6]}, 2994)) {
			t.Fatalf("a frame arrived altered: %d bytes, starts % x", len(f), f[:8])
		}
	}
	if got := v.StreamID("video"); got != "111-board" {
		t.Errorf("stream id %q, want 111-board", got)
	}
	// The viewer's connection asked for a keyframe; a PLI of its own reaches the publisher too.
	relaytest.WaitFor(t, "the new viewer's keyframe request at the publisher", 10*time.Second, func() bool { return pub.PLIs() >= 1 })
	before := pub.PLIs()
	var ssrc uint32
	for _, rc := range v.PC.GetReceivers() {
		if tr := rc.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = uint32(tr.SSRC())
		}
	}
	relaytest.WaitFor(t, "the viewer's PLI at the publisher", 10*time.Second, func() bool {
		_ = v.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		time.Sleep(20 * time.Millisecond)
		return pub.PLIs() > before
	})
	if srcs := r.Sources("room1"); len(srcs) != 1 || srcs[0].Viewers != 1 || srcs[0].VideoFrames < 3 {
		t.Errorf("sources %+v", srcs)
	}
	if _, room := r.Sessions("room1"); room != 1 {
		t.Errorf("%d sessions in the room", room)
	}

	// Only the publisher ends it; its viewers' sessions end with it.
	if err := r.Unpublish(p.ID, "222"); !errors.Is(err, ErrNotYours) {
		t.Errorf("unpublish by another: %v", err)
	}
	if err := r.Unpublish(p.ID, "111"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer's session outlived its publisher")
	}
	if s.Reason() != "the publisher stopped" || p.Reason() != "stopped by the publisher" {
		t.Errorf("reasons %q, %q", s.Reason(), p.Reason())
	}
	if err := r.Unpublish(p.ID, "111"); !errors.Is(err, ErrNoSession) {
		t.Errorf("unpublish twice: %v", err)
	}
	if srcs := r.Sources(""); len(srcs) != 0 {
		t.Errorf("sources after unpublish: %+v", srcs)
	}
	if _, _, err := r.WatchSource(context.Background(), "room1", "111", SourceBoard, "viewer1", relaytest.NewViewer(t, relaytest.Video).Offer); !errors.Is(err, ErrNoSource) {
		t.Errorf("watching an ended source: %v", err)
	}
	if all, _ := r.Sessions(""); all != 0 {
		t.Errorf("%d sessions left", all)
	}
}

func TestPublishOffersRefused(t *testing.T) {
	r := testRelay(t, Config{})
	video := relaytest.NewPublisher(t, true).Offer
	noVP8 := strings.NewReplacer("VP8/90000", "H264/90000").Replace(video)
	for name, c := range map[string]struct {
		offer, kind string
		want        error
	}{
		"empty":           {"", SourceBoard, ErrBadOffer},
		"not sdp":         {"hello", SourceBoard, ErrBadOffer},
		"no media":        {"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", SourceBoard, ErrNoVideo},
		"receives only":   {relaytest.NewViewer(t, relaytest.Video, relaytest.Audio).Offer, SourceBoard, ErrNoVideo},
		"video inactive":  {strings.ReplaceAll(video, "a=sendonly", "a=inactive"), SourceBoard, ErrNoVideo},
		"no vp8":          {noVP8, SourceBoard, ErrNoVP8},
		"truncated":       {video[:len(video)/2] + "\r\nm=video x", SourceBoard, ErrBadOffer},
		"unknown kind":    {video, "face", ErrUnknownKind},
		"too large offer": {video + strings.Repeat("a=x\r\n", 20000), SourceBoard, ErrBadOffer},
	} {
		_, _, err := r.Publish(context.Background(), "room1", "111", c.kind, c.offer)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if all, _ := r.Publishers(""); all != 0 {
		t.Errorf("refused offers left %d publishers", all)
	}
	if _, _, err := r.WatchSource(context.Background(), "room1", "111", SourceBoard, "v", relaytest.NewViewer(t, relaytest.Video).Offer); !errors.Is(err, ErrNoSource) {
		t.Errorf("watching a source no one publishes: %v", err)
	}
}

// TestPublisherLimitsAndReplacement: a second publish of one source replaces the first (whose
// viewers end); the relay's and a room's publisher limits refuse others.
func TestPublisherLimitsAndReplacement(t *testing.T) {
	r := testRelay(t, Config{MaxPublishers: 2, MaxPublishersPerRoom: 1})
	first, _ := publish(t, r, "room1", "111")
	v := relaytest.NewViewer(t, relaytest.Video)
	s, _, err := r.WatchSource(context.Background(), "room1", "111", SourceBoard, "viewer1", v.Offer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Publish(context.Background(), "room1", "222", SourceBoard, relaytest.NewPublisher(t, false).Offer); !errors.Is(err, ErrPublisherLimit) {
		t.Fatalf("a second publisher in a room of one: %v", err)
	}
	second, _ := publish(t, r, "room1", "111")
	select {
	case <-first.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced publisher runs on")
	}
	<-s.Ended()
	if first.Reason() != "replaced by a new publishing session" || s.Reason() != "the publisher stopped" {
		t.Errorf("reasons %q, %q", first.Reason(), s.Reason())
	}
	if srcs := r.Sources("room1"); len(srcs) != 1 || second.Reason() != "" {
		t.Errorf("after replacement: %+v, %q", srcs, second.Reason())
	}
	publish(t, r, "room2", "333")
	if _, _, err := r.Publish(context.Background(), "room3", "444", SourceBoard, relaytest.NewPublisher(t, false).Offer); !errors.Is(err, ErrPublisherLimit) {
		t.Fatalf("a third publisher of a relay of two: %v", err)
	}
	if n := r.EndPublishers("room1", "", "table view turned off"); n != 1 {
		t.Errorf("ended %d publishers of room1", n)
	}
	if all, room := r.Publishers("room2"); all != 1 || room != 1 {
		t.Errorf("publishers %d, %d", all, room)
	}
}

func TestUnconnectedPublisherEnds(t *testing.T) {
	r := testRelay(t, Config{ConnectTimeout: 300 * time.Millisecond})
	p, _, err := r.Publish(context.Background(), "room1", "111", SourceBoard, relaytest.NewPublisher(t, false).Offer)
	if err != nil {
		t.Fatal(err)
	}
	// The publisher never applies the answer.
	select {
	case <-p.Ended():
	case <-time.After(20 * time.Second):
		t.Fatal("an unconnected publisher outlived its connect timeout")
	}
	if p.Reason() != "not connected in time" {
		t.Errorf("reason %q", p.Reason())
	}
	if all, _ := r.Publishers(""); all != 0 || len(r.Sources("")) != 0 {
		t.Errorf("%d publishers, sources %+v", all, r.Sources(""))
	}
}

func TestCloseEndsPublishers(t *testing.T) {
	r := testRelay(t, Config{})
	p, _ := publish(t, r, "room1", "111")
	r.Close()
	select {
	case <-p.Ended():
	default:
		t.Fatal("a publisher outlived the relay")
	}
	if _, _, err := r.Publish(context.Background(), "room1", "111", SourceBoard, relaytest.NewPublisher(t, false).Offer); !errors.Is(err, ErrClosed) {
		t.Errorf("publish to a closed relay: %v", err)
	}
}

// A published camera is VP8: a viewer that takes only H.264 video and no audio has nothing to
// receive from it, and is told so before any session exists.
func TestBoardViewerWithoutVP8(t *testing.T) {
	r := testRelay(t, Config{})
	publish(t, r, "room1", "111")
	v := relaytest.NewViewerWith(t, relaytest.Options{VideoCodecs: []string{webrtc.MimeTypeH264}}, relaytest.Video)
	if _, _, err := r.WatchSource(context.Background(), "room1", "111", SourceBoard, "viewer1", v.Offer); !errors.Is(err, ErrNothingToReceive) {
		t.Fatalf("err = %v, want ErrNothingToReceive", err)
	}
	if n, _ := r.Sessions("room1"); n != 0 {
		t.Errorf("%d sessions after the refusal", n)
	}
}

// TestBoardViewerKeepsTheBoardWhenTheCameraChangesCodec: a member's Discord camera moving to
// H.264 moves the viewers of that camera, not those of the member's published board.
func TestBoardViewerKeepsTheBoardWhenTheCameraChangesCodec(t *testing.T) {
	r := testRelay(t, Config{KeyframeInterval: 50 * time.Millisecond})
	_, pub := publish(t, r, "room1", "111")
	board := relaytest.NewViewer(t, relaytest.Video) // pion's defaults: VP8 and H.264
	bs, answer, err := r.WatchSource(context.Background(), "room1", "111", SourceBoard, "viewer1", board.Offer)
	if err != nil {
		t.Fatal(err)
	}
	board.Answer(t, answer)
	sendUntil(t, pub, func() bool { return len(board.Frames()) >= 3 })
	camera := relaytest.NewViewer(t, relaytest.Video)
	cs, answer, err := r.Watch(context.Background(), "room1", "111", "viewer1", camera.Offer)
	if err != nil {
		t.Fatal(err)
	}
	camera.Answer(t, answer)
	feedH264(t, r.Room("room1"), "111", h264Clip(t), func() bool { return slices.Contains(camera.FrameCodecs(), "H264") })
	if c := cs.VideoCodec(); c != "H264" {
		t.Fatalf("the camera's viewer is sent %q", c)
	}
	if c := bs.VideoCodec(); c != "VP8" {
		t.Fatalf("the board's viewer is sent %q", c)
	}
	n := len(board.Frames())
	sendUntil(t, pub, func() bool { return len(board.Frames()) >= n+3 })
	if slices.Contains(board.FrameCodecs(), "H264") || bs.Reason() != "" {
		t.Fatalf("the board's viewer: codecs %v, ended %q", board.FrameCodecs(), bs.Reason())
	}
}
