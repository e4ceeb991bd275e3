package discordtest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coder/websocket"
)

// ErrUnknownSession is returned for a session ID the gateway does not hold (never identified,
// invalidated, or past its resume window).
var ErrUnknownSession = errors.New("discordtest: unknown gateway session")

// ErrNotConnected is returned for a fault that needs the session's connection while it has none.
var ErrNotConnected = errors.New("discordtest: gateway session has no connection")

// SessionInfo describes a gateway session.
type SessionInfo struct {
	ID      string  `json:"id"`
	Intents Intents `json:"intents"`
	// UserID is the bot user the session's token authenticates: the bot or a voice bot.
	UserID string `json:"user_id"`
	// Shard is [id, count] as identified; count 0 means the client sent no shard.
	Shard     [2]int    `json:"shard"`
	Version   int       `json:"version"`
	Seq       int64     `json:"seq"`
	Connected bool      `json:"connected"`
	CreatedAt time.Time `json:"created_at"`
	// Compression is "zlib-stream", "zlib" (identify's compress:true) or "".
	Compression string `json:"compression"`
	Resumes     int    `json:"resumes"`
	Heartbeats  int    `json:"heartbeats"`
	// Ops lists the latest payloads the client sent on this session's connections.
	Ops []ReceivedOp `json:"ops"`
}

// DispatchRecord is one dispatch a session received (or will receive on resume).
type DispatchRecord struct {
	Seq  int64  `json:"seq"`
	Type string `json:"type"`
}

// Sessions lists the live gateway sessions (connected, or resumable within the window), oldest first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	out := make([]SessionInfo, 0, len(s.sessions))
	for id, sess := range s.sessions {
		if sess.expired(now, s.cfg.Gateway.ResumeWindow) {
			delete(s.sessions, id)
			continue
		}
		out = append(out, sess.info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// Session describes one gateway session.
func (s *Server) Session(id string) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.liveSessionLocked(id)
	if err != nil {
		return SessionInfo{}, err
	}
	return sess.info(), nil
}

// Dispatches lists the dispatches a session still holds for replay, oldest first (at most
// GatewayConfig.ReplayBufferSize).
func (s *Server) Dispatches(sessionID string) ([]DispatchRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.liveSessionLocked(sessionID)
	if err != nil {
		return nil, err
	}
	out := make([]DispatchRecord, 0, sess.buffer.len())
	for _, b := range sess.buffer.all() {
		out = append(out, DispatchRecord{Seq: b.seq, Type: b.name})
	}
	return out, nil
}

func (sess *session) info() SessionInfo {
	info := SessionInfo{
		ID:         sess.id,
		Intents:    sess.intents,
		UserID:     sess.userID,
		Shard:      sess.shard,
		Version:    sess.version,
		Seq:        sess.seq,
		Connected:  sess.conn != nil,
		CreatedAt:  sess.createdAt,
		Resumes:    sess.resumes,
		Heartbeats: sess.heartbeats,
		Ops:        slices.Clone(sess.ops.all()),
	}
	switch {
	case sess.conn != nil && sess.conn.zlibStream:
		info.Compression = "zlib-stream"
	case sess.compress:
		info.Compression = "zlib"
	}
	return info
}

func (s *Server) liveSessionLocked(id string) (*session, error) {
	sess, ok := s.sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	if sess.expired(time.Now(), s.cfg.Gateway.ResumeWindow) {
		delete(s.sessions, id)
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	return sess, nil
}

// connectedLocked returns a live session's current connection.
func (s *Server) connectedLocked(id string) (*session, *gatewayConn, error) {
	sess, err := s.liveSessionLocked(id)
	if err != nil {
		return nil, nil, err
	}
	if sess.conn == nil || sess.conn.closing {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotConnected, id)
	}
	return sess, sess.conn, nil
}

// withConnection runs f on a session's connection under the lock.
func (s *Server) withConnection(id string, f func(*session, *gatewayConn)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, c, err := s.connectedLocked(id)
	if err != nil {
		return err
	}
	f(sess, c)
	return nil
}

// DropConnection closes a session's TCP connection without a close frame, as a network failure
// would. The session stays resumable.
func (s *Server) DropConnection(sessionID string) error {
	return s.withConnection(sessionID, func(_ *session, c *gatewayConn) {
		c.closing = true
		c.drop()
	})
}

// SetHeartbeatACKs stops (false) or resumes (true) op 11 answers on the session's current
// connection, making it a zombie in the client's eyes. A new connection answers again.
func (s *Server) SetHeartbeatACKs(sessionID string, enabled bool) error {
	return s.withConnection(sessionID, func(_ *session, c *gatewayConn) { c.ackHeartbeats = enabled })
}

// RequestHeartbeat sends op 1, asking the client for an immediate heartbeat.
func (s *Server) RequestHeartbeat(sessionID string) error {
	return s.withConnection(sessionID, func(_ *session, c *gatewayConn) {
		c.enqueue(outFrame{payload: opPayload(opHeartbeat, nil)})
	})
}

// SendReconnect sends op 7: the client should close and resume.
func (s *Server) SendReconnect(sessionID string) error {
	return s.withConnection(sessionID, func(_ *session, c *gatewayConn) {
		c.enqueue(outFrame{payload: opPayload(opReconnect, nil)})
	})
}

// SendInvalidSession sends op 9 with d = resumable. The connection stays open but no longer
// authenticated, so the client may identify (or, when resumable, resume) on it or reconnect;
// without resumable the session is gone.
func (s *Server) SendInvalidSession(sessionID string, resumable bool) error {
	return s.withConnection(sessionID, func(sess *session, c *gatewayConn) {
		s.obs.invalidSessionSent()
		c.enqueue(outFrame{payload: opPayload(opInvalidSession, resumable)})
		c.sess = nil
		sess.conn = nil
		sess.detachedAt = time.Now()
		if !resumable {
			delete(s.sessions, sess.id)
		}
	})
}

// CloseSession closes the session's connection with any close code (e.g. 4000, 4009, 1012). The
// session stays resumable, except after 4007 and 4009, which end it as on Discord.
func (s *Server) CloseSession(sessionID string, code int, reason string) error {
	if code < 1000 || code > 4999 || code == 1004 || code == 1005 || code == 1006 || code == 1015 {
		return fmt.Errorf("discordtest: %d is not a close code that can be sent", code)
	}
	if len(reason) > 123 {
		return errors.New("discordtest: a close reason is at most 123 bytes")
	}
	return s.withConnection(sessionID, func(_ *session, c *gatewayConn) {
		c.closeLocked(websocket.StatusCode(code), reason)
	})
}

// InvalidateSession forgets a session without telling its client: the connection stays up, but a
// later resume gets op 9. Events no longer reach it.
func (s *Server) InvalidateSession(sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.liveSessionLocked(sessionID)
	if err != nil {
		return err
	}
	delete(s.sessions, sess.id)
	return nil
}
