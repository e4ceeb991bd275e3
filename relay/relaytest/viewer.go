// Package relaytest is a WebRTC viewer for tests of the relay: a pion PeerConnection that
// receives as a browser's WHEP player does, on loopback, and reassembles what it gets.
package relaytest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Viewer receives a member's camera and voice.
type Viewer struct {
	PC *webrtc.PeerConnection
	// Offer is the viewer's SDP offer, with its candidates.
	Offer string

	mu      sync.Mutex
	streams map[string]string // kind -> stream id
	frames  [][]byte          // reassembled VP8 frames
	audio   [][]byte
	partial []byte
}

// Video and Audio are the kinds a viewer may receive.
const (
	Video = webrtc.RTPCodecTypeVideo
	Audio = webrtc.RTPCodecTypeAudio
)

// NewViewer returns a viewer offering to receive kinds, closed when the test ends.
func NewViewer(t testing.TB, kinds ...webrtc.RTPCodecType) *Viewer {
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
	v := &Viewer{PC: pc, streams: make(map[string]string)}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(v.read)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	v.Offer = pc.LocalDescription().SDP
	return v
}

func (v *Viewer) read(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	v.mu.Lock()
	v.streams[tr.Kind().String()] = tr.StreamID()
	v.mu.Unlock()
	var vp8 codecs.VP8Packet
	started := false
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			v.audio = append(v.audio, bytes.Clone(p.Payload))
		} else if b, err := vp8.Unmarshal(p.Payload); err == nil {
			if vp8.S == 1 && vp8.PID == 0 {
				v.partial, started = v.partial[:0], true
			}
			if !started { // joined in the middle of a frame
				v.mu.Unlock()
				continue
			}
			v.partial = append(v.partial, b...)
			if p.Marker {
				v.frames = append(v.frames, bytes.Clone(v.partial))
				v.partial = v.partial[:0]
			}
		}
		v.mu.Unlock()
	}
}

// Answer applies the relay's answer.
func (v *Viewer) Answer(t testing.TB, sdp string) {
	t.Helper()
	if err := v.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}

// Frames returns the VP8 frames received so far.
func (v *Viewer) Frames() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.frames...)
}

// Audio returns the Opus packets received so far.
func (v *Viewer) Audio() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.audio...)
}

// StreamID returns the stream id of the track of kind ("video", "audio"), "" before it arrived.
func (v *Viewer) StreamID(kind string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.streams[kind]
}

// WaitFor polls cond every 10 ms until it holds, failing the test after timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
