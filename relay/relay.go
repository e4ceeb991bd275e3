// Package relay forwards a voice call's media to WebRTC viewers: each member's camera (VP8) and
// voice (Opus), as the voice connection hands them over, to every browser watching that member,
// without transcoding. Viewers connect with WHEP (see handler.go): one session per member
// watched, one UDP port for every peer (with ICE over TCP beside it), DTLS-SRTP to the browser.
//
// A viewer's keyframe requests (RTCP PLI and FIR) go back to the member's sender through
// Config.OnKeyframeRequest, throttled, and a new viewer asks for one as soon as its connection
// is up, so a picture shows without waiting for the sender's next keyframe.
package relay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Defaults of Config.
const (
	DefaultMaxSessions          = 400
	DefaultMaxSessionsPerViewer = 32
	DefaultConnectTimeout       = 20 * time.Second
	DefaultKeyframeInterval     = 500 * time.Millisecond
	DefaultMaxOfferBytes        = 64 << 10
	DefaultQueueLength          = 128
)

// Config configures a Relay.
type Config struct {
	// ListenIP is the address the media sockets bind (default 0.0.0.0; 127.0.0.1 for tests).
	ListenIP string
	// UDPPort is the one UDP port every peer's media uses (0: any free port; see UDPAddr).
	UDPPort int
	// TCPPort is the port of ICE over TCP, for networks that block UDP (0: any free port;
	// -1: off).
	TCPPort int
	// PublicIPs are the addresses browsers reach the media ports at, when the host is behind a
	// 1:1 NAT (a cloud instance's public address); they replace the host candidates' addresses.
	PublicIPs []string
	// MaxSessions bounds the viewing sessions of the relay (default 400; past it: ErrFull).
	MaxSessions int
	// MaxSessionsPerViewer bounds one viewer's sessions (default 32: a table of members, twice).
	MaxSessionsPerViewer int
	// ConnectTimeout is how long a session may take to connect after its answer (default 20 s);
	// one that does not is closed, as is one whose connection fails.
	ConnectTimeout time.Duration
	// KeyframeInterval is the least time between two keyframe requests for one member
	// (default 500 ms).
	KeyframeInterval time.Duration
	// MaxOfferBytes bounds an SDP offer (default 64 KiB).
	MaxOfferBytes int64
	// MaxPublishers and MaxPublishersPerRoom bound the publishing sessions (WHIP) of the relay
	// and of one room (defaults 64 and 8; past them: ErrPublisherLimit). A member publishes one
	// source of each kind: a second publish replaces the first.
	MaxPublishers        int
	MaxPublishersPerRoom int
	// QueueLength bounds the frames and voice packets of one member waiting for their viewers
	// (default 128, about a second); past it they are dropped and counted.
	QueueLength int
	// OnKeyframeRequest is called (from its own goroutine) when a viewer of userID's camera
	// needs a keyframe: a new viewer, or a PLI or FIR from one. It reports whether the request
	// went out: when it did not (the call does not know the camera yet), the next frame of the
	// camera asks again at once rather than after KeyframeInterval. Until a keyframe comes, each
	// frame asks again, at most once per KeyframeInterval.
	OnKeyframeRequest func(roomID, userID string) bool
	// OnSessionsChange is called, without locks held, when the number of a room's sessions that
	// watch members' Discord cameras changes (the worker joins the room's voice on the first and
	// leaves after the last; viewers of published sources do not need the call).
	OnSessionsChange func(roomID string, sessions int)
	// OnForward, when set, is told after each frame or voice packet was written to every
	// viewer of its member: how long that took from the call of WriteVideo or WriteAudio, and
	// how many RTP packets it wrote per viewer. It runs on the media's goroutine: keep it short.
	OnForward func(took time.Duration, packets int)
	// Logger receives the relay's logs (default: discarded).
	Logger *slog.Logger

	// copyNACKPackets makes the NACK responder copy every packet, as pion does by default
	// (nack.go); the benchmark compares the two.
	copyNACKPackets bool
}

func (c Config) withDefaults() (Config, error) {
	if c.ListenIP == "" {
		c.ListenIP = "0.0.0.0"
	}
	if net.ParseIP(c.ListenIP) == nil {
		return c, fmt.Errorf("relay: listen address %q is not an IP address", c.ListenIP)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return c, fmt.Errorf("relay: public address %q is not an IP address", ip)
		}
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 || c.TCPPort < -1 || c.TCPPort > 65535 {
		return c, errors.New("relay: ports must be within 0-65535 (TCP: -1 turns it off)")
	}
	if c.MaxSessions < 0 || c.MaxSessionsPerViewer < 0 || c.ConnectTimeout < 0 || c.KeyframeInterval < 0 || c.MaxOfferBytes < 0 || c.QueueLength < 0 || c.MaxPublishers < 0 || c.MaxPublishersPerRoom < 0 {
		return c, errors.New("relay: limits must not be negative")
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessionsPerViewer == 0 {
		c.MaxSessionsPerViewer = DefaultMaxSessionsPerViewer
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = DefaultKeyframeInterval
	}
	if c.MaxOfferBytes == 0 {
		c.MaxOfferBytes = DefaultMaxOfferBytes
	}
	if c.QueueLength == 0 {
		c.QueueLength = DefaultQueueLength
	}
	if c.MaxPublishers == 0 {
		c.MaxPublishers = DefaultMaxPublishers
	}
	if c.MaxPublishersPerRoom == 0 {
		c.MaxPublishersPerRoom = DefaultMaxPublishersPerRoom
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Relay holds the media sockets, the rooms' tracks and the viewing sessions.
type Relay struct {
	cfg     Config
	api     *webrtc.API
	udp     net.PacketConn
	tcp     net.Listener
	udpMux  interface{ Close() error }
	tcpMux  interface{ Close() error }
	closing chan struct{}
	closers sync.WaitGroup // sessions' connections closing

	mu       sync.Mutex
	rooms    map[string]*Room
	sessions map[string]*Session
	viewers  map[string]int // sessions per viewer
	pub      publishers
	closed   bool
}

// New opens the media sockets and returns a Relay.
func New(cfg Config) (*Relay, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg: cfg, closing: make(chan struct{}),
		rooms: make(map[string]*Room), sessions: make(map[string]*Session), viewers: make(map[string]int),
	}
	r.udp, err = net.ListenPacket("udp4", net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.UDPPort)))
	if err != nil {
		return nil, fmt.Errorf("relay: media UDP port: %w", err)
	}
	if cfg.TCPPort >= 0 {
		r.tcp, err = net.Listen("tcp4", net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			r.udp.Close()
			return nil, fmt.Errorf("relay: media TCP port: %w", err)
		}
	}
	if r.api, err = r.newAPI(); err != nil {
		r.closeSockets()
		return nil, err
	}
	return r, nil
}

// newAPI builds the WebRTC stack: VP8, H.264 and Opus only (what Discord sends, forwarded as it is),
// the default interceptors (NACK answers from a send buffer, RTCP reports), every peer on the
// relay's one UDP port and TCP port.
func (r *Relay) newAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []struct {
		p   webrtc.RTPCodecParameters
		typ webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: vp8Capability(), PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: h264Capability(), PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: opusCapability(), PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	} {
		if err := m.RegisterCodec(c.p, c.typ); err != nil {
			return nil, fmt.Errorf("relay: codec: %w", err)
		}
	}
	// Only what a forwarder needs: answers to NACKs from a send buffer (nack.go), and sender
	// reports (the browser's audio/video sync). The relay receives no media, so neither NACK
	// generation nor TWCC feedback applies; per-packet statistics would cost every viewer's every
	// packet.
	ir := &interceptor.Registry{}
	if err := configureNACK(m, ir, r.cfg.copyNACKPackets); err != nil {
		return nil, fmt.Errorf("relay: interceptors: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("relay: interceptors: %w", err)
	}
	var se webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = lf
	udpMux := webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), newUDPSocket(r.udp))
	se.SetICEUDPMux(udpMux)
	r.udpMux = udpMux
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if r.tcp != nil {
		tcpMux := webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), r.tcp, 8)
		se.SetICETCPMux(tcpMux)
		r.tcpMux = tcpMux
		networks = append(networks, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(networks)
	if ip := net.ParseIP(r.cfg.ListenIP); ip.IsLoopback() {
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(r.cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: r.cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode: webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, fmt.Errorf("relay: public addresses: %w", err)
		}
	}
	// The relay only answers: it never needs mDNS, and a browser behind NAT finds it by its
	// host candidates (or PublicIPs).
	se.SetICEMulticastDNSMode(0)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func vp8Capability() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}},
	}
}

func opusCapability() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
}

// MaxOfferBytes is the largest SDP offer accepted.
func (r *Relay) MaxOfferBytes() int64 { return r.cfg.MaxOfferBytes }

// UDPAddr is the media UDP socket's address.
func (r *Relay) UDPAddr() net.Addr { return r.udp.LocalAddr() }

// TCPAddr is the ICE-TCP listener's address (nil when off).
func (r *Relay) TCPAddr() net.Addr {
	if r.tcp == nil {
		return nil
	}
	return r.tcp.Addr()
}

// Room returns the room's tracks, created on first use.
func (r *Relay) Room(roomID string) *Room {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[roomID]
	if rm == nil {
		rm = newRoom(r, roomID)
		r.rooms[roomID] = rm
	}
	return rm
}

// CallSessions is the number of roomID's sessions that watch members' Discord cameras: those the
// room's call feeds.
func (r *Relay) CallSessions(roomID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roomSessionsLocked(roomID)
}

// Sessions returns the number of sessions, in all and of one room ("" for all only).
func (r *Relay) Sessions(roomID string) (all, room int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sessions {
		if s.room.id == roomID {
			room++
		}
	}
	return len(r.sessions), room
}

// EndRoom ends every session of a room, its published sources' viewers included (its table
// view was turned off).
func (r *Relay) EndRoom(roomID, reason string) { r.endRoom(roomID, reason, true) }

// EndCall ends the sessions of a room's members' Discord cameras (its call ended: their viewers
// ask again); viewers of its published sources go on.
func (r *Relay) EndCall(roomID, reason string) { r.endRoom(roomID, reason, false) }

func (r *Relay) endRoom(roomID, reason string, sources bool) {
	r.mu.Lock()
	var ending []*Session
	for _, s := range r.sessions {
		if s.RoomID == roomID && (sources || s.Source == "") {
			ending = append(ending, s)
		}
	}
	rm := r.rooms[roomID]
	delete(r.rooms, roomID)
	r.mu.Unlock()
	for _, s := range ending {
		s.end(reason)
	}
	if rm != nil {
		rm.close()
	}
}

// Close ends every session and closes the sockets.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.closing)
	sessions := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.mu.Unlock()
	r.endAllPublishers()
	for _, s := range sessions {
		s.end("relay closed")
	}
	r.closers.Wait()
	r.mu.Lock()
	rooms := r.rooms
	r.rooms = make(map[string]*Room)
	r.mu.Unlock()
	for _, rm := range rooms {
		rm.close()
	}
	r.closeSockets()
	return nil
}

func (r *Relay) closeSockets() {
	if r.udpMux != nil {
		_ = r.udpMux.Close()
	}
	if r.tcpMux != nil {
		_ = r.tcpMux.Close()
	}
	_ = r.udp.Close()
	if r.tcp != nil {
		_ = r.tcp.Close()
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
