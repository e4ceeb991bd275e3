package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/spellcoven/gateway/voice/dave"
)

// wsSession is one WebSocket connection to the voice gateway. A voice session outlives it when
// it is resumed on a new one.
type wsSession struct {
	c      *Conn
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	// Handshake messages, each delivered once by the reader.
	hello   chan helloData
	ready   chan readyData
	desc    chan sessionDescriptionData
	resumed chan struct{}

	// Heartbeats sent and acknowledged.
	sent, acked atomic.Int64

	failOnce sync.Once
	err      error
	done     chan struct{} // closed when the reader stops; err is set before
}

// gatewayURL is the voice gateway URL for an endpoint ("host" or "host:port").
func gatewayURL(scheme, endpoint string) string {
	u := url.URL{Scheme: scheme, Host: endpoint, Path: "/", RawQuery: fmt.Sprintf("v=%d", gatewayVersion)}
	return u.String()
}

// dialSession opens the WebSocket and starts its reader.
func (c *Conn) dialSession(ctx context.Context, endpoint string) (*wsSession, error) {
	ws, resp, err := websocket.Dial(ctx, gatewayURL(c.cfg.Scheme, endpoint), &websocket.DialOptions{HTTPClient: c.cfg.HTTPClient})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("voice: dial voice gateway %s: %w", endpoint, err)
	}
	ws.SetReadLimit(c.cfg.MaxMessageBytes)
	s := &wsSession{
		c:       c,
		ws:      ws,
		hello:   make(chan helloData, 1),
		ready:   make(chan readyData, 1),
		desc:    make(chan sessionDescriptionData, 1),
		resumed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	c.wg.Add(1)
	go s.readLoop()
	return s, nil
}

// fail ends the session with err (the first cause wins) and drops the connection.
func (s *wsSession) fail(err error) {
	s.failOnce.Do(func() {
		s.err = err
		s.cancel()
		_ = s.ws.CloseNow()
	})
}

// closeWith sends a close frame, waits (boundedly) for the server's answer and ends the session.
func (s *wsSession) closeWith(code websocket.StatusCode, reason string) {
	_ = s.ws.Close(code, reason)
	s.fail(&CloseError{Code: int(code), Reason: reason})
}

func (s *wsSession) readLoop() {
	defer s.c.wg.Done()
	defer close(s.done)
	for {
		typ, data, err := s.ws.Read(s.ctx)
		if err != nil {
			s.fail(asCloseError(err))
			return
		}
		if typ == websocket.MessageBinary {
			s.daveBinary(data) // DAVE's binary opcodes
			continue
		}
		var env envelope
		if err := json.Unmarshal(data, &env); err != nil {
			s.c.log.Warn("voice gateway: undecodable message", "error", err)
			continue
		}
		s.handle(&env)
	}
}

// handle dispatches one message: handshake answers to their waiters, heartbeat ACKs to the
// heartbeat, events to the Conn. Messages with a seq already seen (a replay after resume) are
// skipped.
func (s *wsSession) handle(env *envelope) {
	if env.Seq != nil && !s.c.noteSeq(*env.Seq) {
		return
	}
	switch env.Op {
	case opHello:
		var d helloData
		if json.Unmarshal(env.D, &d) == nil {
			offer(s.hello, d)
		}
	case opReady:
		var d readyData
		if err := json.Unmarshal(env.D, &d); err != nil {
			s.fail(fmt.Errorf("voice gateway: bad ready: %w", err))
			return
		}
		offer(s.ready, d)
	case opSessionDescription:
		var d sessionDescriptionData
		if err := json.Unmarshal(env.D, &d); err != nil {
			s.fail(fmt.Errorf("voice gateway: bad session description: %w", err))
			return
		}
		s.daveStart(d.DAVEProtocolVersion)
		offer(s.desc, d)
	case opResumed:
		offer(s.resumed, struct{}{})
	case opHeartbeatAck:
		s.acked.Store(s.sent.Load())
	case opClientsConnect, opClientDisconnect:
		s.daveClients(env.Op, env.D)
		s.c.handleEvent(env.Op, env.D)
	case opSpeaking, opVideo:
		s.c.handleEvent(env.Op, env.D)
	case opDAVEPrepareTransition, opDAVEExecuteTransition, opDAVEPrepareEpoch:
		s.daveJSON(env.Op, env.D)
	default:
		s.c.log.Debug("voice gateway: ignoring opcode", "op", env.Op)
	}
}

// offer delivers v if nobody has yet; a second Ready or Hello on one connection is ignored.
func offer[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// send writes one message, bounded by WriteTimeout.
func (s *wsSession) send(op int, d any) error {
	b, err := json.Marshal(outEnvelope{Op: op, D: d})
	if err != nil {
		return err
	}
	if err := s.write(websocket.MessageText, b); err != nil {
		return fmt.Errorf("voice gateway: write op %d: %w", op, err)
	}
	return nil
}

// write writes one WebSocket message, bounded by WriteTimeout.
func (s *wsSession) write(typ websocket.MessageType, b []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.c.cfg.WriteTimeout)
	defer cancel()
	return s.ws.Write(ctx, typ, b)
}

// await waits for a handshake message, the connection's end, or ctx.
func await[T any](ctx context.Context, s *wsSession, ch chan T, what string) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-s.done:
		return zero, fmt.Errorf("voice: waiting for %s: %w", what, s.err)
	case <-ctx.Done():
		return zero, fmt.Errorf("voice: waiting for %s: %w", what, ctx.Err())
	}
}

// heartbeatLoop sends op 3 every interval with the last seq seen, and fails the session when
// MaxMissedHeartbeats in a row went unacknowledged: the connection is a zombie, and resuming
// on a new one is the cure.
func (s *wsSession) heartbeatLoop(interval time.Duration) {
	defer s.c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if missed := s.sent.Load() - s.acked.Load(); missed >= int64(s.c.cfg.MaxMissedHeartbeats) {
			s.fail(&CloseError{Code: int(websocket.StatusAbnormalClosure), Reason: fmt.Sprintf("%d heartbeats not acknowledged", missed)})
			return
		}
		s.sent.Add(1)
		if err := s.send(opHeartbeat, heartbeatData{T: time.Now().UnixMilli(), SeqAck: s.c.seqAck()}); err != nil {
			s.fail(asCloseError(err))
			return
		}
	}
}

// startHeartbeat waits for Hello and starts heartbeating at its interval.
func (s *wsSession) startHeartbeat(ctx context.Context) error {
	hello, err := await(ctx, s, s.hello, "hello")
	if err != nil {
		return err
	}
	interval := time.Duration(hello.HeartbeatInterval * float64(time.Millisecond))
	if interval < 10*time.Millisecond {
		return fmt.Errorf("voice: hello with heartbeat interval %v", interval)
	}
	s.c.wg.Add(1)
	go s.heartbeatLoop(interval)
	return nil
}

// identify runs a new session's handshake on s: identify, Ready, UDP (IP discovery), Select
// Protocol and Session Description. It returns the established media session.
func (s *wsSession) identify(ctx context.Context, info ServerInfo) (*mediaSession, error) {
	c := s.c
	if err := s.startHeartbeat(ctx); err != nil {
		return nil, err
	}
	err := s.send(opIdentify, identifyData{
		ServerID:               info.GuildID,
		UserID:                 info.UserID,
		SessionID:              info.SessionID,
		Token:                  info.Token,
		MaxDAVEProtocolVersion: c.maxDAVEVersion(),
	})
	if err != nil {
		return nil, err
	}
	ready, err := await(ctx, s, s.ready, "ready")
	if err != nil {
		return nil, err
	}
	mode, err := ChooseMode(ready.Modes, c.cfg.Modes)
	if err != nil {
		return nil, err
	}
	m, err := c.openMedia(ctx, ready)
	if err != nil {
		return nil, err
	}
	sp := selectProtocolData{Protocol: "udp", Codecs: offeredCodecs()}
	sp.Data.Address, sp.Data.Port, sp.Data.Mode = m.externalIP, m.externalPort, mode
	if err := s.send(opSelectProtocol, sp); err != nil {
		m.close()
		return nil, err
	}
	desc, err := await(ctx, s, s.desc, "session description")
	if err != nil {
		m.close()
		return nil, err
	}
	if err := m.setKey(mode, desc); err != nil {
		m.close()
		s.fail(err)
		return nil, err
	}
	return m, nil
}

// resume runs a resume handshake on s: op 7 with the last seq seen; the server replays what
// was missed (handled as it arrives) and answers RESUMED.
func (s *wsSession) resume(ctx context.Context, info ServerInfo) error {
	if err := s.startHeartbeat(ctx); err != nil {
		return err
	}
	err := s.send(opResume, resumeData{
		ServerID:  info.GuildID,
		SessionID: info.SessionID,
		Token:     info.Token,
		SeqAck:    s.c.seqAck(),
	})
	if err != nil {
		return err
	}
	_, err = await(ctx, s, s.resumed, "resumed")
	return err
}

// maxDAVEVersion is identify's max_dave_protocol_version.
func (c *Conn) maxDAVEVersion() int {
	if c.cfg.TransportOnly {
		return 0
	}
	return dave.ProtocolVersion
}

// offeredCodecs is op 1's codec list: Opus, then VP8 before H.264 (a lower priority number is
// preferred). Received video is told apart by these payload types.
func offeredCodecs() []codecDesc {
	yes := true
	return []codecDesc{
		{Name: "opus", Type: "audio", Priority: 1000, PayloadType: PayloadTypeOpus},
		{Name: string(CodecVP8), Type: "video", Priority: 1000, PayloadType: PayloadTypeVP8, RTXPayloadType: PayloadTypeVP8RTX, Encode: &yes, Decode: &yes},
		{Name: string(CodecH264), Type: "video", Priority: 2000, PayloadType: PayloadTypeH264, RTXPayloadType: PayloadTypeH264RTX, Encode: &yes, Decode: &yes},
	}
}

// errClosed is returned by operations on a closed Conn.
var errClosed = errors.New("voice: connection closed")
