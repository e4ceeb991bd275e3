package voice

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/coder/websocket"
	"github.com/spellcoven/gateway/voice/dave"
)

// DAVE opcodes carried as JSON (the binary ones arrive as binary WebSocket messages).
const (
	opDAVEPrepareTransition = int(dave.OpPrepareTransition)
	opDAVEExecuteTransition = int(dave.OpExecuteTransition)
	opDAVEPrepareEpoch      = int(dave.OpPrepareEpoch)
)

// E2EEEvent reports a change of the connection's end-to-end encryption (DAVE): the protocol
// version in effect, the MLS epoch, and the privacy code members can compare (empty while
// no group is established or with protocol version 0).
type E2EEEvent struct {
	ProtocolVersion int
	Epoch           uint64
	PrivacyCode     string
}

func (*E2EEEvent) voiceEvent() {}

// DAVE is the end-to-end encryption session of the current voice session: nil with
// Config.TransportOnly. It answers PrivacyCode, VerificationCode, Members and Epoch; a new
// session (after a reconnect from scratch) gets a new one.
func (c *Conn) DAVE() *dave.Session { return c.e2ee.Load() }

// newE2EE starts a fresh DAVE session for a new voice session (identify).
func (c *Conn) newE2EE(info ServerInfo) error {
	if c.cfg.TransportOnly {
		return nil
	}
	cfg := c.cfg.DAVE
	cfg.UserID, _ = strconv.ParseUint(info.UserID, 10, 64)
	cfg.ChannelID, _ = strconv.ParseUint(info.ChannelID, 10, 64)
	s, err := dave.NewSession(cfg)
	if err != nil {
		return fmt.Errorf("voice: %w", err)
	}
	c.e2ee.Store(s)
	c.e2eeState = E2EEEvent{}
	return nil
}

// daveStart applies the session description's dave_protocol_version; from the reader.
func (s *wsSession) daveStart(version int) {
	c := s.c
	sess := c.e2ee.Load()
	if sess == nil {
		if version > 0 {
			c.log.Warn("voice gateway chose DAVE although identify offered transport encryption only", "dave_protocol_version", version)
		}
		return
	}
	msgs, err := sess.Start(version)
	s.daveSend(sess, msgs, err, "session description")
}

// daveClients passes op 11 and op 13 to the DAVE session: proposals to add users it was not
// told about are refused.
func (s *wsSession) daveClients(op int, d json.RawMessage) {
	sess := s.c.e2ee.Load()
	if sess == nil {
		return
	}
	switch op {
	case opClientsConnect:
		var v clientsConnectData
		if json.Unmarshal(d, &v) != nil {
			return
		}
		ids := make([]uint64, 0, len(v.UserIDs))
		for _, id := range v.UserIDs {
			if n, err := strconv.ParseUint(id, 10, 64); err == nil {
				ids = append(ids, n)
			}
		}
		sess.ClientsConnect(ids...)
	case opClientDisconnect:
		var v clientDisconnectData
		if json.Unmarshal(d, &v) != nil {
			return
		}
		if n, err := strconv.ParseUint(v.UserID, 10, 64); err == nil {
			sess.ClientDisconnect(n)
		}
	}
}

// daveJSON handles opcodes 21, 22 and 24.
func (s *wsSession) daveJSON(op int, d json.RawMessage) {
	sess := s.c.e2ee.Load()
	if sess == nil {
		s.c.log.Debug("voice gateway: DAVE opcode without DAVE", "op", op)
		return
	}
	msgs, err := sess.HandleJSON(dave.Opcode(op), d)
	s.daveSend(sess, msgs, err, "opcode "+strconv.Itoa(op))
}

// daveBinary handles a binary message ([seq u16][opcode][payload]): opcodes 25, 27, 29, 30.
func (s *wsSession) daveBinary(data []byte) {
	c := s.c
	seq, op, _, err := dave.ParseServerFrame(data)
	if err != nil {
		c.log.Warn("voice gateway: undecodable binary message", "error", err)
		return
	}
	if !c.noteSeq(extendSeq(c.seqAck(), seq)) {
		return // replayed after a resume, already handled
	}
	sess := c.e2ee.Load()
	if sess == nil {
		c.log.Debug("voice gateway: DAVE binary message without DAVE", "op", int(op))
		return
	}
	msgs, err := sess.HandleBinary(data)
	s.daveSend(sess, msgs, err, "opcode "+strconv.Itoa(int(op)))
}

// extendSeq widens a binary message's 16-bit seq to the connection's seq space: the value
// with those low bits nearest to the last seq seen.
func extendSeq(last int64, seq uint16) int64 {
	if last < 0 {
		return int64(seq)
	}
	v := last&^0xffff | int64(seq)
	switch {
	case v < last-0x8000:
		v += 0x10000
	case v > last+0x8000 && v >= 0x10000:
		v -= 0x10000
	}
	return v
}

// daveSend sends what the DAVE session answered (even alongside an error: the answer carries
// the protocol's recovery) and reports a changed state.
func (s *wsSession) daveSend(sess *dave.Session, msgs []dave.Message, err error, what string) {
	c := s.c
	if err != nil {
		c.log.Warn("voice: DAVE could not process a message", "message", what, "error", err)
	}
	for _, m := range msgs {
		var werr error
		if m.Op.IsBinary() {
			werr = s.write(websocket.MessageBinary, m.ClientFrame())
		} else {
			var b []byte
			if b, werr = json.Marshal(m); werr == nil {
				werr = s.write(websocket.MessageText, b)
			}
		}
		if werr != nil {
			c.log.Warn("voice: sending a DAVE message failed", "op", int(m.Op), "error", werr)
			s.fail(asCloseError(werr))
			return
		}
	}
	st := E2EEEvent{ProtocolVersion: sess.ProtocolVersion(), Epoch: sess.Epoch(), PrivacyCode: sess.PrivacyCode()}
	if !sess.Ready() {
		st.PrivacyCode = ""
	}
	c.log.Debug("voice: DAVE message handled", "message", what, "protocol_version", st.ProtocolVersion, "epoch", st.Epoch, "e2ee", st.PrivacyCode != "")
	if st != c.e2eeState {
		c.e2eeState = st
		c.emit(&st)
	}
}

// e2eeFrames puts the DAVE session between the codec and the transport.
type e2eeFrames struct{ c *Conn }

func codecOf(kind MediaKind) dave.Codec {
	switch kind {
	case MediaVideo:
		return dave.CodecVP8
	case MediaVideoH264:
		return dave.CodecH264
	}
	return dave.CodecOpus
}

func (f e2eeFrames) EncryptFrame(kind MediaKind, dst, frame []byte) ([]byte, error) {
	sess := f.c.e2ee.Load()
	if sess == nil {
		return append(dst, frame...), nil
	}
	return sess.EncryptFrame(codecOf(kind), dst, frame)
}

var errUnmappedSender = errors.New("voice: frame from an SSRC not mapped to a user cannot be decrypted")

func (f e2eeFrames) DecryptFrame(kind MediaKind, userID string, dst, frame []byte) ([]byte, error) {
	sess := f.c.e2ee.Load()
	if sess == nil {
		return append(dst, frame...), nil
	}
	id, err := strconv.ParseUint(userID, 10, 64)
	if err != nil {
		// Nobody to hold the frame to: clear frames pass only while no group is established.
		if !dave.IsProtocolFrame(frame) && !sess.Ready() {
			return append(dst, frame...), nil
		}
		return nil, errUnmappedSender
	}
	return sess.DecryptFrame(id, dst, frame)
}
