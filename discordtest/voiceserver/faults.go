package voiceserver

import (
	"encoding/json"
	"fmt"
	"slices"
)

// faults are the failures tests switch on.
type faults struct {
	dropInbound     bool
	dropOutbound    bool
	noHeartbeatAcks bool
}

func (s *Server) sessionFor(guildID, userID string) (*session, error) {
	sess := s.sessions[grantKey(guildID, userID)]
	if sess == nil {
		return nil, fmt.Errorf("voiceserver: no voice session for user %s in guild %s", userID, guildID)
	}
	return sess, nil
}

// CloseSession closes a session's WebSocket with code and reason, as a voice server does. The
// session stays resumable when the code allows it (4015, or below 4000); with any other code
// it ends, as Discord's would.
func (s *Server) CloseSession(guildID, userID string, code int, reason string) error {
	if code < 1000 || code > 4999 {
		return fmt.Errorf("voiceserver: close code %d out of range", code)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionFor(guildID, userID)
	if err != nil {
		return err
	}
	if code == closeServerCrashed || code < 4000 {
		if sess.conn == nil {
			return fmt.Errorf("voiceserver: session of user %s is not connected", userID)
		}
		sess.conn.closeWith(code, reason)
		return nil
	}
	s.endSessionLocked(sess, code, reason)
	return nil
}

// DropConnection ends a session's TCP connection without a close frame; the session stays
// resumable.
func (s *Server) DropConnection(guildID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionFor(guildID, userID)
	if err != nil {
		return err
	}
	if sess.conn == nil {
		return fmt.Errorf("voiceserver: session of user %s is not connected", userID)
	}
	sess.conn.drop()
	return nil
}

// InvalidateSession makes the next resume of a session fail with 4006, as when Discord forgot
// it, without closing its current connection.
func (s *Server) InvalidateSession(guildID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionFor(guildID, userID)
	if err != nil {
		return err
	}
	sess.invalid = true
	return nil
}

// PauseDelivery stops writing a session's messages to its connection; they are still numbered
// and kept for replay, as messages lost in flight would be. A resume delivers them.
func (s *Server) PauseDelivery(guildID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionFor(guildID, userID)
	if err != nil {
		return err
	}
	sess.paused = true
	return nil
}

// SendRaw sends a datagram as it is to a session's client UDP address: RTCP, garbage, or
// packets sealed with the wrong key.
func (s *Server) SendRaw(guildID, userID string, datagram []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.sessionFor(guildID, userID)
	if err != nil {
		return err
	}
	if sess.botAddr == nil {
		return fmt.Errorf("voiceserver: session of user %s has no media address yet", userID)
	}
	s.writeToLocked(datagram, sess.botAddr)
	return nil
}

// SetUDPDrop drops datagrams from clients (inbound) or to them (outbound) until switched off.
func (s *Server) SetUDPDrop(inbound, outbound bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropInbound, s.faults.dropOutbound = inbound, outbound
}

// SetHeartbeatAcks switches heartbeat ACKs off (false) or back on, to make a connection look
// dead to its client.
func (s *Server) SetHeartbeatAcks(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.noHeartbeatAcks = !enabled
}

// SessionInfo is the server's truth about a bot's voice session.
type SessionInfo struct {
	SessionID string
	GuildID   string
	ChannelID string
	UserID    string
	// SSRC, VideoSSRC and RTXSSRC were given in Ready.
	SSRC, VideoSSRC, RTXSSRC uint32
	// Mode is the encryption mode selected ("" before select protocol).
	Mode string
	// DAVEProtocolVersion is what the session description chose (0: transport encryption
	// only); DAVEMember says whether the session is in its call's DAVE group.
	DAVEProtocolVersion int
	DAVEMember          bool
	// BotAddress is the UDP address the bot gave in select protocol.
	BotAddress string
	// Connected reports whether a WebSocket is attached.
	Connected bool
	// Speaking is the last speaking flags the bot sent.
	Speaking int
	// Video is the bot's last op 12 payload.
	Video json.RawMessage
	// Heartbeats counts heartbeats; LastSeqAck is the last seq_ack they carried.
	Heartbeats int
	LastSeqAck int64
	// Identifies and Resumes count handshakes of this session.
	Identifies, Resumes int
	// Seq is the last seq sent.
	Seq int64
}

// Session returns the bot's current voice session in a guild.
func (s *Server) Session(guildID, userID string) (SessionInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[grantKey(guildID, userID)]
	if sess == nil {
		return SessionInfo{}, false
	}
	info := SessionInfo{
		SessionID: sess.id, GuildID: sess.guildID, ChannelID: sess.channelID, UserID: sess.bot,
		SSRC: sess.ssrc, VideoSSRC: sess.videoSSRC, RTXSSRC: sess.rtxSSRC, Mode: sess.mode,
		Connected: sess.conn != nil, Speaking: sess.speaking, Video: slices.Clone(sess.video),
		Heartbeats: sess.heartbeats, LastSeqAck: sess.lastSeqAck, Identifies: sess.identifies,
		Resumes: sess.resumes, Seq: sess.seq, DAVEProtocolVersion: sess.daveVersion, DAVEMember: sess.daveMember,
	}
	if sess.botAddr != nil {
		info.BotAddress = sess.botAddr.String()
	}
	return info, true
}

// Ops returns the messages the bot sent in its current session, in order (tokens redacted).
func (s *Server) Ops(guildID, userID string) []Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[grantKey(guildID, userID)]
	if sess == nil {
		return nil
	}
	return slices.Clone(sess.ops)
}
