// Package relaytest is a WebRTC viewer for tests of the relay: a pion PeerConnection that
// receives as a browser's WHEP player does, on loopback, and reassembles what it gets.
package relaytest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/spellcoven/gateway/voice"
)

// Viewer receives a member's camera and voice.
type Viewer struct {
	PC *webrtc.PeerConnection
	// Offer is the viewer's SDP offer, with its candidates.
	Offer string

	mu        sync.Mutex
	streams   map[string]string // kind -> stream id
	frames    [][]byte          // reassembled VP8 frames and H.264 access units
	codecs    []string          // each frame's codec ("VP8", "H264")
	audioPkts [][]byte
	partial   []byte
	videoSSRC uint32
	packets   []VideoPacket
}

// VideoPacket is one video RTP packet as received.
type VideoPacket struct {
	SSRC     uint32
	Sequence uint16
	Payload  []byte
}

// Video and Audio are the kinds a viewer may receive.
const (
	Video = webrtc.RTPCodecTypeVideo
	Audio = webrtc.RTPCodecTypeAudio
)

// NewViewer returns a viewer offering to receive kinds, closed when the test ends. Its video
// takes every codec pion knows (VP8, VP9, AV1, H.264 in several profiles and packetization
// modes), as a browser offers them.
func NewViewer(t testing.TB, kinds ...webrtc.RTPCodecType) *Viewer {
	t.Helper()
	return NewViewerWith(t, Options{}, kinds...)
}

// Options shape a viewer's offer.
type Options struct {
	// VideoCodecs, when set, are the only video codecs offered, in order (pion's own
	// parameters for each, e.g. webrtc.MimeTypeVP8, webrtc.MimeTypeH264).
	VideoCodecs []string
	// H264PacketizationMode0 offers H.264 in packetization-mode 0 only.
	H264PacketizationMode0 bool
	// AcceptRepeats turns SRTP replay protection off, so that a packet sent again (a NACK's
	// answer for a packet that was not lost) reaches VideoPackets.
	AcceptRepeats bool
}

// NewViewerWith is NewViewer with options.
func NewViewerWith(t testing.TB, opts Options, kinds ...webrtc.RTPCodecType) *Viewer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(0)
	if opts.AcceptRepeats {
		se.DisableSRTPReplayProtection(true)
	}
	m := &webrtc.MediaEngine{}
	if opts.VideoCodecs == nil {
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	} else {
		registerCodecs(t, m, opts)
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
	var h264 voice.H264Assembler
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		v.mu.Lock()
		v.videoSSRC = uint32(tr.SSRC())
		v.mu.Unlock()
	}
	started := false
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		if tr.Kind() == webrtc.RTPCodecTypeVideo && len(v.packets) < maxRecordedPackets {
			v.packets = append(v.packets, VideoPacket{SSRC: p.SSRC, Sequence: p.SequenceNumber, Payload: bytes.Clone(p.Payload)})
		}
		switch {
		case tr.Kind() == webrtc.RTPCodecTypeAudio:
			v.audioPkts = append(v.audioPkts, bytes.Clone(p.Payload))
		case strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeH264):
			if f, ok := h264.Push(p.SequenceNumber, p.Timestamp, p.Marker, p.Payload); ok {
				v.frames = append(v.frames, bytes.Clone(f))
				v.codecs = append(v.codecs, "H264")
			}
		default:
			if b, err := vp8.Unmarshal(p.Payload); err == nil {
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
					v.codecs = append(v.codecs, "VP8")
					v.partial = v.partial[:0]
				}
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

// Frames returns the video frames received so far: VP8 frames, H.264 access units (Annex B).
func (v *Viewer) Frames() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.frames...)
}

// FrameCodecs returns the codec of each of Frames ("VP8", "H264").
func (v *Viewer) FrameCodecs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.codecs...)
}

// Audio returns the Opus packets received so far.
func (v *Viewer) Audio() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.audioPkts...)
}

// maxRecordedPackets bounds the video packets a viewer keeps for VideoPackets.
const maxRecordedPackets = 20000

// VideoPackets returns the video RTP packets received so far (the first 20,000), retransmissions
// included.
func (v *Viewer) VideoPackets() []VideoPacket {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]VideoPacket(nil), v.packets...)
}

// SendNACK asks for video packets again (RFC 4585 generic NACK), as a receiver that lost them.
func (v *Viewer) SendNACK(t testing.TB, seqs ...uint16) {
	t.Helper()
	v.mu.Lock()
	ssrc := v.videoSSRC
	v.mu.Unlock()
	nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
	if err := v.PC.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
}

// RequestKeyframe sends a picture loss indication about the received video, as a decoder that
// lost its reference does.
func (v *Viewer) RequestKeyframe(t testing.TB) {
	t.Helper()
	v.mu.Lock()
	ssrc := v.videoSSRC
	v.mu.Unlock()
	if ssrc == 0 {
		t.Fatal("relaytest: no video received to ask a keyframe of")
	}
	if err := v.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
}

// registerCodecs registers Opus and the chosen video codecs.
func registerCodecs(t testing.TB, m *webrtc.MediaEngine, opts Options) {
	t.Helper()
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	register := func(c webrtc.RTPCodecCapability, pt webrtc.PayloadType, typ webrtc.RTPCodecType) {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, typ); err != nil {
			t.Fatal(err)
		}
	}
	register(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, 111, webrtc.RTPCodecTypeAudio)
	pt := webrtc.PayloadType(96)
	for _, c := range opts.VideoCodecs {
		fmtp := ""
		if strings.EqualFold(c, webrtc.MimeTypeH264) {
			mode := "1"
			if opts.H264PacketizationMode0 {
				mode = "0"
			}
			fmtp = "level-asymmetry-allowed=1;packetization-mode=" + mode + ";profile-level-id=42e01f"
		}
		register(webrtc.RTPCodecCapability{MimeType: c, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: fb}, pt, webrtc.RTPCodecTypeVideo)
		pt++
	}
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
