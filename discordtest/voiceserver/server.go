package voiceserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/voice"
)

// Server is a running voice server. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	grants    map[string]discordtest.VoiceGrant // by guild/user
	sessions  map[string]*session               // by guild/user
	bySSRC    map[uint32]*session
	calls     map[string]map[string]*User // by guild/channel, then user ID
	daveCalls map[string]*daveCall        // by guild/channel
	daveKeys  map[string][]byte           // each call's external sender key, by guild/channel
	// downgrades numbers the calls' downgrade transitions.
	downgrades int
	conns      map[*wsConn]struct{}
	nextSSRC   uint32
	recorded   map[uint32][]ReceivedPacket
	faults     faults
	counters   Counters

	httpSrv  *http.Server
	ln       net.Listener
	udp      *net.UDPConn
	wg       sync.WaitGroup
	serveErr chan error
	stop     chan struct{} // closed by Close
	closed   bool
}

// Counters are the server's totals, for tests to check what reached it.
type Counters struct {
	// Discoveries counts IP discovery requests answered.
	Discoveries int
	// Keepalives counts UDP keepalives echoed.
	Keepalives int
	// RTCP counts RTCP packets received.
	RTCP int
	// KeyframeRequests counts picture loss indications and full intra requests from bots
	// about an emulated user's video, which the user answers with a keyframe.
	KeyframeRequests int
	// VideoWithheld counts video packets not sent to a bot because it had not asked for that
	// video (op 15).
	VideoWithheld int
	// Undecryptable counts RTP packets from the bot that failed authentication or came from
	// an unknown SSRC.
	Undecryptable int
	// DroppedUDP counts datagrams dropped by the UDP faults.
	DroppedUDP int
	// DAVEErrors counts DAVE messages the delivery service refused (a malformed key package
	// or commit, for instance).
	DAVEErrors int
	// DAVEInvalidCommits counts opcode 31 reports from members.
	DAVEInvalidCommits int
}

// session is one bot's voice session in a guild. It outlives its WebSocket when resumed.
type session struct {
	id                       string // the grant's session ID
	guildID, channelID, bot  string
	token                    string
	ssrc, videoSSRC, rtxSSRC uint32

	// maxDAVE is identify's max_dave_protocol_version; daveVersion what the session
	// description chose; daveMember is set while the session is in its call's DAVE group.
	maxDAVE, daveVersion int
	daveMember           bool
	// daveExternal is set once the session got its call's external sender (opcode 25).
	daveExternal bool

	conn       *wsConn // nil while detached
	detachedAt time.Time
	invalid    bool

	// Set by select protocol.
	mode    string
	botAddr *net.UDPAddr
	sendMu  sync.Mutex // guards sealer, used by emulated users' senders
	sealer  *voice.Sealer
	opener  *voice.Opener // used by the UDP loop
	// videoPTs are the video codecs op 1 announced, by name (codecs.go).
	videoPTs map[string]uint8

	seq    int64
	replay []outMsg

	speaking int
	video    json.RawMessage
	// wants is the session's last op 15 (media sink wants): quality 0-100 per SSRC, and
	// wantsAny for the others. Video goes only to a session that asked for it.
	wants      map[uint32]int
	wantsAny   int
	heartbeats int
	lastSeqAck int64
	identifies int
	resumes    int
	ops        []Op
	// paused holds messages back from the connection (they stay in the replay buffer), as if
	// they were lost in flight.
	paused bool
}

// outMsg is a message to the client, kept for replay when it carries a seq.
type outMsg struct {
	seq     int64
	payload []byte
	binary  bool
}

// Op is a message the bot sent, as received.
type Op struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
}

// New builds a voice server from cfg. It does not listen yet: see Start.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		grants:    make(map[string]discordtest.VoiceGrant),
		sessions:  make(map[string]*session),
		bySSRC:    make(map[uint32]*session),
		calls:     make(map[string]map[string]*User),
		daveCalls: make(map[string]*daveCall),
		daveKeys:  make(map[string][]byte),
		stop:      make(chan struct{}),
		conns:     make(map[*wsConn]struct{}),
		recorded:  make(map[uint32][]ReceivedPacket),
		nextSSRC:  1000,
	}, nil
}

// Start listens on a free TCP port (the voice gateway) and a free UDP port (media) of Host.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("voiceserver: closed")
	}
	if s.ln != nil {
		return errors.New("voiceserver: already started")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.Host, "0"))
	if err != nil {
		return fmt.Errorf("voiceserver: listen: %w", err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(s.cfg.Host)})
	if err != nil {
		ln.Close()
		return fmt.Errorf("voiceserver: listen udp: %w", err)
	}
	_ = udp.SetReadBuffer(1 << 20)
	s.ln, s.udp = ln, udp
	s.httpSrv = &http.Server{Handler: http.HandlerFunc(s.serveGateway), ReadHeaderTimeout: 10 * time.Second}
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.httpSrv.Serve(ln) }()
	s.wg.Add(2)
	go s.udpLoop()
	go s.daveTicker()
	s.log.Info("voice server listening", "endpoint", ln.Addr().String(), "udp", udp.LocalAddr().String())
	return nil
}

// Endpoint is the "host:port" announced in VOICE_SERVER_UPDATE.
func (s *Server) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// UDPAddr is the media server's address, announced in Ready.
func (s *Server) UDPAddr() *net.UDPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr().(*net.UDPAddr)
}

// Close stops the server at once: connections drop without a close frame, as when a voice
// server dies. It waits for its goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	users := s.allUsersLocked()
	s.mu.Unlock()
	for _, u := range users {
		u.stopSending()
	}
	var err error
	if s.httpSrv != nil {
		err = s.httpSrv.Close()
		<-s.serveErr
	}
	for _, c := range conns {
		c.drop()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	s.wg.Wait()
	return err
}

func grantKey(guildID, userID string) string { return guildID + "/" + userID }

// Allocate implements discordtest.VoiceBackend: it records the grant with a fresh token and
// returns this server's endpoint.
func (s *Server) Allocate(g discordtest.VoiceGrant) (endpoint, token string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token = hex.EncodeToString(b)
	g.Token = token
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		endpoint = s.ln.Addr().String()
	}
	g.Endpoint = endpoint
	key := grantKey(g.GuildID, g.UserID)
	s.grants[key] = g
	if sess := s.sessions[key]; sess != nil && sess.channelID != g.ChannelID {
		// Moved to another channel: the old session is over, as on Discord.
		s.endSessionLocked(sess, closeDisconnected, "Disconnected.")
	}
	return endpoint, token
}

// Release implements discordtest.VoiceBackend: the user left voice, so their grant and session
// end (a connected client is closed with 4014).
func (s *Server) Release(guildID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := grantKey(guildID, userID)
	delete(s.grants, key)
	if sess := s.sessions[key]; sess != nil {
		s.endSessionLocked(sess, closeDisconnected, "Disconnected.")
	}
}

// endSessionLocked forgets a session, closes its connection with code, and tells the other
// bots in the call that it left.
func (s *Server) endSessionLocked(sess *session, code int, reason string) {
	key := grantKey(sess.guildID, sess.bot)
	if s.sessions[key] == sess {
		delete(s.sessions, key)
	}
	for _, ssrc := range []uint32{sess.ssrc, sess.videoSSRC, sess.rtxSSRC} {
		if s.bySSRC[ssrc] == sess {
			delete(s.bySSRC, ssrc)
		}
	}
	sess.invalid = true
	if sess.conn != nil {
		sess.conn.closeWith(code, reason)
		sess.conn = nil
	}
	for _, other := range s.sessionsInCallLocked(sess.guildID, sess.channelID) {
		s.sendLocked(other, opClientDisconnect, map[string]any{"user_id": sess.bot})
	}
	if sess.daveMember {
		sess.daveMember = false
		s.daveLeaveLocked(sess.guildID, sess.channelID, sess.bot)
	}
	if sess.maxDAVE < 1 && sess.botAddr != nil {
		s.daveUpgradeLocked(sess.guildID, sess.channelID)
	}
}

// sessionsInCallLocked returns the bot sessions in a channel that have a key (media set up).
func (s *Server) sessionsInCallLocked(guildID, channelID string) []*session {
	var out []*session
	for _, sess := range s.sessions {
		if sess.guildID == guildID && sess.channelID == channelID && !sess.invalid {
			out = append(out, sess)
		}
	}
	return out
}

// sendLocked sends a message to a session's client: it gets the next seq and is kept for
// replay, and goes out now when the client is connected.
func (s *Server) sendLocked(sess *session, op int, d any) {
	payload, err := json.Marshal(map[string]any{"op": op, "d": d, "seq": sess.seq + 1})
	if err != nil {
		s.log.Error("voiceserver: encode", "op", op, "error", err)
		return
	}
	sess.seq++
	s.queueLocked(sess, outMsg{seq: sess.seq, payload: payload})
}

// queueLocked keeps a message for replay and sends it now when the client is connected.
func (s *Server) queueLocked(sess *session, m outMsg) {
	sess.replay = append(sess.replay, m)
	if over := len(sess.replay) - s.cfg.ReplayBufferSize; over > 0 {
		sess.replay = append(sess.replay[:0], sess.replay[over:]...)
	}
	if sess.conn != nil && !sess.paused {
		sess.conn.enqueueMsg(m)
	}
}

func (s *Server) allocSSRCsLocked() (audio, video, rtx uint32) {
	audio = s.nextSSRC
	s.nextSSRC += 3
	return audio, audio + 1, audio + 2
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Interface guard.
var _ discordtest.VoiceBackend = (*Server)(nil)
