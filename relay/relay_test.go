package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
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

// viewer is a pion PeerConnection receiving as a browser's WHEP player would.
type viewer struct {
	pc    *webrtc.PeerConnection
	offer string

	mu      sync.Mutex
	tracks  map[string]string // kind -> stream id
	frames  [][]byte          // reassembled VP8 frames
	audio   [][]byte
	partial []byte
	got     chan struct{}
}

func newViewer(t *testing.T, kinds ...webrtc.RTPCodecType) *viewer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(0)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &viewer{pc: pc, tracks: make(map[string]string), got: make(chan struct{}, 1)}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		v.tracks[tr.Kind().String()] = tr.StreamID()
		v.mu.Unlock()
		var vp8 codecs.VP8Packet
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				v.audio = append(v.audio, bytes.Clone(p.Payload))
			} else if b, err := vp8.Unmarshal(p.Payload); err == nil {
				if vp8.S == 1 {
					v.partial = v.partial[:0]
				}
				v.partial = append(v.partial, b...)
				if p.Marker {
					v.frames = append(v.frames, bytes.Clone(v.partial))
				}
			}
			v.mu.Unlock()
			select {
			case v.got <- struct{}{}:
			default:
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	v.offer = pc.LocalDescription().SDP
	return v
}

func (v *viewer) answer(t *testing.T, sdp string) {
	t.Helper()
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
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
	r := testRelay(t, Config{OnKeyframeRequest: func(room, user string) { asked <- room + "/" + user }})
	v := newViewer(t, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	s, answer, err := r.Watch(context.Background(), "room1", "111", "viewer1", v.offer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "VP8/90000") {
		t.Fatalf("answer lacks candidates or VP8:\n%s", answer)
	}
	v.answer(t, answer)
	feed(t, r.Room("room1"), "111", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.frames) >= 3 && len(v.audio) >= 3
	})
	v.mu.Lock()
	for _, f := range v.frames {
		if len(f) != 3000 || f[0] != 0x10 || !bytes.Equal(f[6:], bytes.Repeat([]byte{f[6]}, 2994)) {
			t.Fatalf("a frame arrived altered: %d bytes, starts % x", len(f), f[:8])
		}
	}
	if v.tracks["video"] != "111" || v.tracks["audio"] != "111" {
		t.Errorf("stream ids %v, want the member's user id", v.tracks)
	}
	v.mu.Unlock()
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
	v := newViewer(t, webrtc.RTPCodecTypeAudio)
	_, answer, err := r.Watch(context.Background(), "room1", "222", "viewer1", v.offer)
	if err != nil {
		t.Fatal(err)
	}
	v.answer(t, answer)
	feed(t, r.Room("room1"), "222", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.audio) >= 3
	})
}

func TestOffersRefused(t *testing.T) {
	r := testRelay(t, Config{})
	video := newViewer(t, webrtc.RTPCodecTypeVideo).offer
	noVP8 := strings.NewReplacer("VP8/90000", "H264/90000").Replace(video)
	sendOnly := strings.ReplaceAll(video, "a=recvonly", "a=sendonly")
	for name, c := range map[string]struct {
		offer string
		want  error
	}{
		"empty":       {"", ErrBadOffer},
		"not sdp":     {"hello", ErrBadOffer},
		"no media":    {"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", ErrNothingToReceive},
		"no vp8":      {noVP8, ErrNothingToReceive},
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
	if _, _, err := r.Watch(context.Background(), "room1", "1", "a", newViewer(t, webrtc.RTPCodecTypeVideo).offer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Watch(context.Background(), "room1", "2", "a", newViewer(t, webrtc.RTPCodecTypeVideo).offer); !errors.Is(err, ErrViewerLimit) {
		t.Fatalf("second session of one viewer: %v", err)
	}
	if _, _, err := r.Watch(context.Background(), "room1", "2", "b", newViewer(t, webrtc.RTPCodecTypeVideo).offer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Watch(context.Background(), "room1", "3", "c", newViewer(t, webrtc.RTPCodecTypeVideo).offer); !errors.Is(err, ErrFull) {
		t.Fatalf("third session: %v", err)
	}
}

func TestUnconnectedSessionEnds(t *testing.T) {
	changes := make(chan int, 8)
	r := testRelay(t, Config{ConnectTimeout: 300 * time.Millisecond, OnSessionsChange: func(_ string, n int) { changes <- n }})
	s, _, err := r.Watch(context.Background(), "room1", "1", "a", newViewer(t, webrtc.RTPCodecTypeVideo).offer)
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
