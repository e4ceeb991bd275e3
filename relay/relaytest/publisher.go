package relaytest

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Publisher sends a camera (VP8) as a browser's WHIP client does, on loopback, and counts the
// keyframe requests it receives.
type Publisher struct {
	PC *webrtc.PeerConnection
	// Offer is the publisher's SDP offer, with its candidates.
	Offer string
	// Video is the camera's track; WriteFrame writes to it.
	Video *webrtc.TrackLocalStaticSample

	mu   sync.Mutex
	plis int
}

// NewPublisher returns a publisher offering to send a VP8 camera (and Opus audio with
// withAudio), closed when the test ends.
func NewPublisher(t testing.TB, withAudio bool) *Publisher {
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
	p := &Publisher{PC: pc}
	p.Video, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "camera", "board")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := pc.AddTransceiverFromTrack(p.Video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	go p.readRTCP(tr.Sender())
	if withAudio {
		audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", "board")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	p.Offer = pc.LocalDescription().SDP
	return p
}

func (p *Publisher) readRTCP(s *webrtc.RTPSender) {
	for {
		packets, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range packets {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
				p.mu.Lock()
				p.plis++
				p.mu.Unlock()
			}
		}
	}
}

// Answer applies the relay's answer.
func (p *Publisher) Answer(t testing.TB, sdp string) {
	t.Helper()
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}

// WriteFrame sends one VP8 frame of the camera.
func (p *Publisher) WriteFrame(frame []byte) error {
	return p.Video.WriteSample(media.Sample{Data: frame, Duration: 33 * time.Millisecond})
}

// PLIs counts the picture loss indications received.
func (p *Publisher) PLIs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plis
}
