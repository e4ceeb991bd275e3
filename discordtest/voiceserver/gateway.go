package voiceserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/spellcoven/gateway/voice/dave"
)

// Voice gateway opcodes.
const (
	opIdentify           = 0
	opSelectProtocol     = 1
	opReady              = 2
	opHeartbeat          = 3
	opSessionDescription = 4
	opSpeaking           = 5
	opHeartbeatAck       = 6
	opResume             = 7
	opHello              = 8
	opResumed            = 9
	opClientsConnect     = 11
	opVideo              = 12
	opClientDisconnect   = 13
	opMediaSinkWants     = 15
)

// Voice gateway close codes.
const (
	closeUnknownOpcode         = 4001
	closeDecodeError           = 4002
	closeNotAuthenticated      = 4003
	closeAuthenticationFailed  = 4004
	closeAlreadyAuthenticated  = 4005
	closeSessionInvalid        = 4006
	closeSessionTimeout        = 4009
	closeUnknownProtocol       = 4012
	closeDisconnected          = 4014
	closeServerCrashed         = 4015
	closeUnknownEncryptionMode = 4016
	closeDAVERequired          = 4017
)

// wsConn is one WebSocket connection. Messages go out through a bounded queue drained by one
// writer, in the order they were queued; a close frame queued after them goes out after them.
type wsConn struct {
	srv  *Server
	ws   *websocket.Conn
	out  chan outFrame
	stop chan struct{}

	stopOnce sync.Once

	// Guarded by srv.mu.
	sess          *session
	lastHeartbeat time.Time
	closing       bool
	// clientCode is the close code the client sent (0 when the connection just dropped).
	clientCode int
}

type outFrame struct {
	payload   []byte
	binary    bool
	closeCode int
	reason    string
}

// serveGateway upgrades a voice gateway connection: wss://endpoint/?v=8.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.Atoi(r.URL.Query().Get("v"))
	if err != nil || v < 4 || v > 8 {
		http.Error(w, "voice gateway version must be 4 to 8 (?v=8)", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	// Messages over MaxMessageBytes get Discord's 4002; the transport's own limit, above it,
	// only guards memory against far larger ones.
	ws.SetReadLimit(int64(s.cfg.MaxMessageBytes) + 64<<10)
	c := &wsConn{srv: s, ws: ws, out: make(chan outFrame, s.cfg.OutboundQueue), stop: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.conns[c] = struct{}{}
	c.lastHeartbeat = time.Now()
	s.wg.Add(2)
	s.mu.Unlock()
	hello, _ := json.Marshal(map[string]any{"op": opHello, "d": map[string]any{"heartbeat_interval": float64(s.cfg.HeartbeatInterval) / float64(time.Millisecond)}})
	c.enqueue(hello)
	go c.writeLoop()
	c.readLoop()
}

// enqueue queues a payload; a client too slow to drain its queue is dropped (its session stays
// resumable).
func (c *wsConn) enqueue(payload []byte) {
	c.enqueueMsg(outMsg{payload: payload})
}

// enqueueMsg queues a text or binary message.
func (c *wsConn) enqueueMsg(m outMsg) {
	select {
	case c.out <- outFrame{payload: m.payload, binary: m.binary}:
	default:
		c.drop()
	}
}

// closeWith queues a close frame after what is already queued.
func (c *wsConn) closeWith(code int, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	select {
	case c.out <- outFrame{closeCode: code, reason: reason}:
	default:
		c.drop()
	}
}

// drop ends the connection without a close frame.
func (c *wsConn) drop() {
	c.stopOnce.Do(func() {
		close(c.stop)
		_ = c.ws.CloseNow()
	})
}

func (c *wsConn) writeLoop() {
	defer c.srv.wg.Done()
	s := c.srv
	tick := time.NewTicker(s.cfg.HeartbeatInterval / 4)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case f := <-c.out:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if f.closeCode != 0 {
				_ = c.ws.Close(websocket.StatusCode(f.closeCode), f.reason)
				cancel()
				c.drop()
				return
			}
			typ := websocket.MessageText
			if f.binary {
				typ = websocket.MessageBinary
			}
			err := c.ws.Write(ctx, typ, f.payload)
			cancel()
			if err != nil {
				c.drop()
				return
			}
		case <-tick.C:
			s.mu.Lock()
			if time.Since(c.lastHeartbeat) > s.cfg.HeartbeatTimeout {
				c.closeWith(closeSessionTimeout, "Session timeout.")
			}
			s.mu.Unlock()
		}
	}
}

func (c *wsConn) readLoop() {
	s := c.srv
	defer s.wg.Done()
	defer c.detach()
	handshake := time.AfterFunc(s.cfg.HandshakeTimeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.sess == nil {
			c.closeWith(closeSessionTimeout, "Session timeout.")
		}
	})
	defer handshake.Stop()
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			s.mu.Lock()
			c.clientCode = int(websocket.CloseStatus(err))
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		switch {
		case len(data) > s.cfg.MaxMessageBytes:
			c.closeWith(closeDecodeError, "Failed to decode payload.")
		case typ == websocket.MessageBinary:
			// DAVE's binary opcodes, from a client that negotiated DAVE only.
			c.daveBinaryLocked(data)
		default:
			c.handleLocked(data)
		}
		s.mu.Unlock()
	}
}

// detach runs when the connection ended: its session becomes resumable, unless the client
// closed with 1000 (leaving) or the server ended the session.
func (c *wsConn) detach() {
	c.drop()
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	sess := c.sess
	if sess == nil || sess.conn != c {
		return
	}
	sess.conn = nil
	sess.detachedAt = time.Now()
	if c.clientCode == int(websocket.StatusNormalClosure) {
		s.endSessionLocked(sess, 0, "")
	}
}

// handleLocked handles one client message.
func (c *wsConn) handleLocked(data []byte) {
	s := c.srv
	var env struct {
		Op *int            `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Op == nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	op := *env.Op
	if c.sess != nil && !c.sess.invalid && len(c.sess.ops) < s.cfg.MaxRecordedPackets {
		d := append(json.RawMessage(nil), env.D...)
		if op == opIdentify || op == opResume {
			d = redactToken(d)
		}
		c.sess.ops = append(c.sess.ops, Op{Op: op, D: d})
	}
	switch op {
	case opHeartbeat:
		c.heartbeatLocked(env.D)
		return
	case opIdentify, opResume:
		if c.sess != nil {
			c.closeWith(closeAlreadyAuthenticated, "Already authenticated.")
			return
		}
		if op == opIdentify {
			c.identifyLocked(env.D)
		} else {
			c.resumeLocked(env.D)
		}
		return
	}
	if c.sess == nil {
		c.closeWith(closeNotAuthenticated, "Not authenticated.")
		return
	}
	switch op {
	case opSelectProtocol:
		c.selectProtocolLocked(env.D)
	case opSpeaking:
		c.speakingLocked(env.D)
	case opVideo:
		c.videoLocked(env.D)
	case opMediaSinkWants:
		c.mediaSinkWantsLocked(env.D)
	case int(dave.OpTransitionReady), int(dave.OpInvalidCommitWelcome):
		c.daveJSONLocked(op, env.D)
	default:
		c.closeWith(closeUnknownOpcode, "Unknown opcode.")
	}
}

func (c *wsConn) heartbeatLocked(d json.RawMessage) {
	s := c.srv
	c.lastHeartbeat = time.Now()
	// v8: {t, seq_ack}; older versions send the nonce alone.
	var hb struct {
		T      json.RawMessage `json:"t"`
		SeqAck *int64          `json:"seq_ack"`
	}
	nonce := d
	if json.Unmarshal(d, &hb) == nil && hb.T != nil {
		nonce = hb.T
	}
	if c.sess != nil {
		c.sess.heartbeats++
		if hb.SeqAck != nil {
			c.sess.lastSeqAck = *hb.SeqAck
		}
	}
	if s.faults.noHeartbeatAcks {
		return
	}
	ack, _ := json.Marshal(map[string]any{"op": opHeartbeatAck, "d": map[string]json.RawMessage{"t": nonce}})
	c.enqueue(ack)
}

func (c *wsConn) identifyLocked(d json.RawMessage) {
	s := c.srv
	var id struct {
		ServerID               string `json:"server_id"`
		UserID                 string `json:"user_id"`
		SessionID              string `json:"session_id"`
		Token                  string `json:"token"`
		MaxDAVEProtocolVersion int    `json:"max_dave_protocol_version"`
	}
	if err := json.Unmarshal(d, &id); err != nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	grant, ok := s.grants[grantKey(id.ServerID, id.UserID)]
	if !ok || id.SessionID != grant.SessionID || subtle.ConstantTimeCompare([]byte(id.Token), []byte(grant.Token)) != 1 {
		s.log.Info("voiceserver: identify refused", "guild_id", id.ServerID, "user_id", id.UserID)
		c.closeWith(closeAuthenticationFailed, "Authentication failed.")
		return
	}
	if s.cfg.RequireDAVE && id.MaxDAVEProtocolVersion < 1 {
		c.closeWith(closeDAVERequired, "E2EE/DAVE protocol required.")
		return
	}
	key := grantKey(grant.GuildID, grant.UserID)
	if old := s.sessions[key]; old != nil {
		s.endSessionLocked(old, closeSessionInvalid, "Session is no longer valid.")
	}
	sess := &session{
		id: grant.SessionID, guildID: grant.GuildID, channelID: grant.ChannelID, bot: grant.UserID,
		token: grant.Token, conn: c,
	}
	sess.ssrc, sess.videoSSRC, sess.rtxSSRC = s.allocSSRCsLocked()
	s.sessions[key] = sess
	for _, ssrc := range []uint32{sess.ssrc, sess.videoSSRC, sess.rtxSSRC} {
		s.bySSRC[ssrc] = sess
	}
	sess.maxDAVE = id.MaxDAVEProtocolVersion
	c.sess = sess
	sess.identifies++
	sess.ops = append(sess.ops, Op{Op: opIdentify, D: redactToken(d)})
	udp := s.udp.LocalAddr().(*net.UDPAddr)
	s.sendLocked(sess, opReady, map[string]any{
		"ssrc":  sess.ssrc,
		"ip":    udp.IP.String(),
		"port":  udp.Port,
		"modes": s.cfg.Modes,
		"streams": []map[string]any{{
			"type": "video", "rid": "100", "ssrc": sess.videoSSRC, "rtx_ssrc": sess.rtxSSRC,
			"quality": 100, "active": false,
		}},
		"experiments": []string{},
	})
}

// redactToken records an identify or resume without its token, so observations can be
// printed by tests without leaking it.
func redactToken(d json.RawMessage) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(d, &m) != nil {
		return nil
	}
	if _, ok := m["token"]; ok {
		m["token"] = "[redacted]"
	}
	out, _ := json.Marshal(m)
	return out
}

func (c *wsConn) resumeLocked(d json.RawMessage) {
	s := c.srv
	var r struct {
		ServerID  string `json:"server_id"`
		SessionID string `json:"session_id"`
		Token     string `json:"token"`
		SeqAck    *int64 `json:"seq_ack"`
	}
	if err := json.Unmarshal(d, &r); err != nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	var sess *session
	for _, cand := range s.sessions {
		if cand.guildID == r.ServerID && cand.id == r.SessionID {
			sess = cand
		}
	}
	if sess == nil || sess.invalid || (sess.conn == nil && time.Since(sess.detachedAt) > s.cfg.ResumeWindow) {
		c.closeWith(closeSessionInvalid, "Session is no longer valid.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Token), []byte(sess.token)) != 1 {
		c.closeWith(closeAuthenticationFailed, "Authentication failed.")
		return
	}
	ack := int64(-1)
	if r.SeqAck != nil {
		ack = *r.SeqAck
	}
	// Replay needs every message after ack still in the buffer.
	if ack < sess.seq && (len(sess.replay) == 0 || sess.replay[0].seq > ack+1) {
		s.endSessionLocked(sess, closeSessionInvalid, "Session is no longer valid.")
		c.closeWith(closeSessionInvalid, "Session is no longer valid.")
		return
	}
	if sess.conn != nil {
		sess.conn.drop()
	}
	sess.conn = c
	sess.paused = false
	c.sess = sess
	sess.resumes++
	sess.ops = append(sess.ops, Op{Op: opResume, D: redactToken(d)})
	for _, m := range sess.replay {
		if m.seq > ack {
			c.enqueueMsg(m)
		}
	}
	resumed, _ := json.Marshal(map[string]any{"op": opResumed, "d": nil})
	c.enqueue(resumed)
}
