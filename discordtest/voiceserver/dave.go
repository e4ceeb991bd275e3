package voiceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/spellcoven/gateway/voice/dave"
)

// daveCall is the end-to-end encryption (DAVE) of one call, as the voice gateway runs it: the
// group's delivery service and external sender, and the emulated users' member sessions. It
// exists while at least one bot in the call negotiated DAVE; the emulated users present join
// the group with it, so that what they send is end-to-end encrypted and what bots send can be
// heard (decrypted) by them.
type daveCall struct {
	key                string // guild/channel, its key in Server.daveCalls
	guildID, channelID string
	ds                 *dave.DeliveryService
	users              map[uint64]*User
	// downgrade is set while a transport-only client's arrival is taking the call to version 0.
	downgrade *pendingDowngrade
}

// E2EEMember is an emulated user's DAVE client: what the user's Discord client would run.
// *dave.Session is the default; UserOptions.E2EE plugs in another implementation, such as
// an independent one for interoperability tests. Calls come with the server's lock held, one
// at a time; the frame methods come from the user's sending goroutine and from Hear.
type E2EEMember interface {
	ClientsConnect(userIDs ...uint64)
	ClientDisconnect(userID uint64)
	// Start applies the session description's protocol version; it returns opcode 26.
	Start(protocolVersion int) ([]dave.Message, error)
	// HandleBinary takes a binary message ([seq u16][op][payload]); HandleJSON a JSON
	// opcode's "d". Both return the messages to send back (JSON ones with a dave.Transition
	// as Data).
	HandleBinary(frame []byte) ([]dave.Message, error)
	HandleJSON(op dave.Opcode, d []byte) ([]dave.Message, error)
	EncryptFrame(codec dave.Codec, dst, frame []byte) ([]byte, error)
	DecryptFrame(userID uint64, dst, frame []byte) ([]byte, error)
	// Ready reports whether media is end-to-end encrypted (a transition has executed).
	Ready() bool
	Epoch() uint64
	PrivacyCode() string
}

// maxDAVEDeliveries bounds one burst of DAVE messages between the delivery service and the
// emulated members; the protocol settles in a few dozen.
const maxDAVEDeliveries = 5000

// daveVersionFor is the session description's dave_protocol_version for a session.
func (s *Server) daveVersionFor(sess *session) int {
	if s.cfg.DisableDAVE || sess.maxDAVE < 1 || snowflake(sess.bot) == 0 || snowflake(sess.channelID) == 0 ||
		s.transportOnlyInCallLocked(sess.guildID, sess.channelID) {
		return 0
	}
	return dave.ProtocolVersion
}

func snowflake(id string) uint64 {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// daveBotsLocked returns the bot sessions of a call that are DAVE members.
func (s *Server) daveBotsLocked(guildID, channelID string) []*session {
	var out []*session
	for _, sess := range s.sessionsInCallLocked(guildID, channelID) {
		if sess.daveMember {
			out = append(out, sess)
		}
	}
	return out
}

// daveJoinBotLocked makes a bot session that negotiated DAVE a member of its call's group
// (creating the group with the emulated users present when it is the first).
func (s *Server) daveJoinBotLocked(sess *session) {
	key := grantKey(sess.guildID, sess.channelID)
	uid := snowflake(sess.bot)
	call := s.daveCalls[key]
	sess.daveMember = true
	if call == nil {
		var err error
		if call, err = s.newDAVECallLocked(sess.guildID, sess.channelID); err != nil {
			s.log.Error("voiceserver: DAVE delivery service", "error", err)
			return
		}
		for _, u := range s.calls[key] {
			s.daveAddUserLocked(call, u)
		}
	} else {
		for _, u := range call.users {
			u.e2ee.ClientsConnect(uid)
		}
	}
	d, err := call.ds.Connect(uid)
	if err != nil {
		s.daveErrorLocked(sess.bot, err)
		return
	}
	s.deliverDAVELocked(call, d)
}

// daveAddUserLocked gives an emulated user a member session in the call's group.
func (s *Server) daveAddUserLocked(call *daveCall, u *User) {
	uid := snowflake(u.ID)
	if uid == 0 {
		s.log.Warn("voiceserver: emulated user without a numeric ID stays out of the DAVE group; its media is not end-to-end encrypted", "user_id", u.ID)
		return
	}
	newMember := u.opts.E2EE
	if newMember == nil {
		newMember = func(userID, channelID uint64) (E2EEMember, error) {
			return dave.NewSession(dave.Config{UserID: userID, ChannelID: channelID})
		}
	}
	e, err := newMember(uid, snowflake(u.ChannelID))
	if err != nil {
		s.daveErrorLocked(u.ID, err)
		return
	}
	var ids []uint64
	for _, b := range s.daveBotsLocked(u.GuildID, u.ChannelID) {
		ids = append(ids, snowflake(b.bot))
	}
	for id, other := range call.users {
		ids = append(ids, id)
		other.e2ee.ClientsConnect(uid)
	}
	e.ClientsConnect(ids...)
	u.e2ee = e
	call.users[uid] = u
	d, err := call.ds.Connect(uid)
	if err != nil {
		s.daveErrorLocked(u.ID, err)
		return
	}
	s.deliverDAVELocked(call, d)
	msgs, err := e.Start(dave.ProtocolVersion)
	if err != nil {
		s.daveErrorLocked(u.ID, err)
	}
	s.deliverDAVELocked(call, s.fromDAVEMemberLocked(call, uid, msgs))
}

// daveLeaveLocked takes a member (bot or emulated user) out of its call's group; the group
// ends when no bot that speaks DAVE remains.
func (s *Server) daveLeaveLocked(guildID, channelID, userID string) {
	key := grantKey(guildID, channelID)
	call := s.daveCalls[key]
	if call == nil {
		return
	}
	uid := snowflake(userID)
	if u := call.users[uid]; u != nil {
		u.e2ee = nil
		delete(call.users, uid)
	}
	if len(s.daveBotsLocked(guildID, channelID)) == 0 {
		for _, u := range call.users {
			u.e2ee = nil
		}
		delete(s.daveCalls, key)
		return
	}
	for _, u := range call.users {
		u.e2ee.ClientDisconnect(uid)
	}
	s.deliverDAVELocked(call, call.ds.Disconnect(uid))
}

// deliverDAVELocked sends deliveries to their members: bots over their WebSocket, emulated
// users to their session at once, whose answers go back to the delivery service, until the
// burst settles.
func (s *Server) deliverDAVELocked(call *daveCall, ds []dave.Delivery) {
	for steps := 0; len(ds) > 0; steps++ {
		if s.daveCalls[call.key] != call {
			return // the call was downgraded or ended meanwhile; its members left the group
		}
		if steps == maxDAVEDeliveries {
			s.log.Error("voiceserver: DAVE messages still flowing; dropping the rest", "call", call.key, "pending", len(ds))
			return
		}
		d := ds[0]
		ds = ds[1:]
		if u := call.users[d.UserID]; u != nil {
			ds = append(ds, s.fromDAVEMemberLocked(call, d.UserID, u.handleDAVE(d.Message))...)
			continue
		}
		b := s.sessions[grantKey(call.guildID, strconv.FormatUint(d.UserID, 10))]
		if b != nil && b.daveMember && b.channelID == call.channelID {
			s.sendDAVELocked(b, d.Message)
		}
	}
}

// fromDAVEMemberLocked hands a member's DAVE messages to the delivery service.
func (s *Server) fromDAVEMemberLocked(call *daveCall, uid uint64, msgs []dave.Message) []dave.Delivery {
	var out []dave.Delivery
	for _, m := range msgs {
		var d []dave.Delivery
		var err error
		switch m.Op {
		case dave.OpKeyPackage:
			d, err = call.ds.KeyPackage(uid, m.Payload)
		case dave.OpCommitWelcome:
			d, err = call.ds.CommitWelcome(uid, m.Payload, time.Now())
			if errors.Is(err, dave.ErrLosingCommit) || errors.Is(err, dave.ErrIncompleteCommit) {
				err = nil // another member's commit won the epoch
			}
		case dave.OpTransitionReady:
			t, ok := m.Data.(dave.Transition)
			if !ok {
				err = errors.New("transition ready without a transition ID")
				break
			}
			if !s.downgradeReadyLocked(call, uid, t.TransitionID) {
				d = call.ds.Ready(uid, t.TransitionID)
			}
		case dave.OpInvalidCommitWelcome:
			t, ok := m.Data.(dave.Transition)
			if !ok {
				err = errors.New("invalid commit/welcome without a transition ID")
				break
			}
			s.counters.DAVEInvalidCommits++
			d = call.ds.InvalidCommitWelcome(uid, t.TransitionID)
		default:
			err = errors.New("opcode " + strconv.Itoa(int(m.Op)) + " is not one a member sends")
		}
		if err != nil {
			s.daveErrorLocked(strconv.FormatUint(uid, 10), err)
		}
		out = append(out, d...)
	}
	return out
}

func (s *Server) daveErrorLocked(userID string, err error) {
	s.counters.DAVEErrors++
	s.log.Info("voiceserver: DAVE message refused", "user_id", userID, "error", err)
}

// sendDAVELocked sends one DAVE message to a bot: binary ones as [seq u16][op][payload], JSON
// ones as any other message; both take a seq and are replayed on resume.
func (s *Server) sendDAVELocked(sess *session, m dave.Message) {
	if !m.Op.IsBinary() {
		s.sendLocked(sess, int(m.Op), m.Data)
		return
	}
	if m.Op == dave.OpExternalSender {
		sess.daveExternal = true
	}
	sess.seq++
	s.queueLocked(sess, outMsg{seq: sess.seq, payload: m.ServerFrame(uint16(sess.seq)), binary: true})
}

// daveFromBotLocked handles a DAVE message from a bot: binary opcodes 26 and 28, JSON 23 and
// 31. A bot that did not negotiate DAVE is refused as Discord does (4002 for binary, 4001 for
// JSON opcodes).
func (c *wsConn) daveFromBotLocked(m dave.Message) {
	s := c.srv
	sess := c.sess
	if sess == nil || !sess.daveMember {
		if m.Op.IsBinary() {
			c.closeWith(closeDecodeError, "Failed to decode payload.")
		} else {
			c.closeWith(closeUnknownOpcode, "Unknown opcode.")
		}
		return
	}
	call := s.daveCalls[grantKey(sess.guildID, sess.channelID)]
	if call == nil {
		return
	}
	s.deliverDAVELocked(call, s.fromDAVEMemberLocked(call, snowflake(sess.bot), []dave.Message{m}))
}

// daveBinaryLocked decodes a bot's binary message ([op][payload]).
func (c *wsConn) daveBinaryLocked(data []byte) {
	op, payload, err := dave.ParseClientFrame(data)
	if err != nil || (op != dave.OpKeyPackage && op != dave.OpCommitWelcome) {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	c.daveFromBotLocked(dave.Message{Op: op, Payload: slices.Clone(payload)})
}

// daveJSONLocked decodes a bot's opcode 23 or 31.
func (c *wsConn) daveJSONLocked(op int, d json.RawMessage) {
	var t struct {
		TransitionID *uint16 `json:"transition_id"`
	}
	if err := json.Unmarshal(d, &t); err != nil || t.TransitionID == nil {
		c.closeWith(closeDecodeError, "Failed to decode payload.")
		return
	}
	c.daveFromBotLocked(dave.Message{Op: dave.Opcode(op), Data: dave.Transition{TransitionID: *t.TransitionID}})
}

// daveTicker executes transitions whose members did not all report ready in time.
func (s *Server) daveTicker() {
	defer s.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			s.downgradeTimeoutsLocked(now)
			for _, call := range s.daveCalls {
				s.deliverDAVELocked(call, call.ds.Tick(now))
			}
			s.mu.Unlock()
		}
	}
}

// handleDAVE gives an emulated user's session one message from the delivery service and
// returns its answers.
func (u *User) handleDAVE(m dave.Message) []dave.Message {
	s := u.srv
	var msgs []dave.Message
	var err error
	if m.Op.IsBinary() {
		msgs, err = u.e2ee.HandleBinary(m.ServerFrame(0))
	} else {
		var raw []byte
		if raw, err = json.Marshal(m.Data); err == nil {
			msgs, err = u.e2ee.HandleJSON(m.Op, raw)
		}
	}
	if err != nil {
		s.log.Info("voiceserver: emulated user's DAVE session refused a message", "user_id", u.ID, "op", int(m.Op), "error", err)
	}
	return msgs
}

// protect end-to-end encrypts a frame the user sends when it is a DAVE member.
func (u *User) protect(codec dave.Codec, frame []byte) ([]byte, error) {
	u.srv.mu.Lock()
	e := u.e2ee
	u.srv.mu.Unlock()
	if e == nil {
		return frame, nil
	}
	return e.EncryptFrame(codec, nil, frame)
}

// awaitE2EE waits, within DAVEReadyTimeout, until the user's DAVE group has settled with
// everyone in the call in it: a client that sends before its first transition has executed
// sends clear frames the others drop, and one that sends while bots are still being added
// uses keys they will never hold.
func (u *User) awaitE2EE(ctx context.Context) error {
	deadline := time.Now().Add(u.srv.cfg.DAVEReadyTimeout)
	for {
		e, settled := u.e2eeSettled()
		if e == nil || settled {
			if e != nil {
				u.srv.log.Debug("voiceserver: emulated user sends end-to-end encrypted", "user_id", u.ID, "epoch", e.Epoch())
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("voiceserver: user %s's DAVE group did not settle within %v", u.ID, u.srv.cfg.DAVEReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-u.stopped:
			return errors.New("voiceserver: stopped")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// e2eeSettled returns the user's DAVE session and whether its group is at rest with the
// user's own transition executed.
func (u *User) e2eeSettled() (E2EEMember, bool) {
	s := u.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	e := u.e2ee
	if e == nil {
		return nil, false
	}
	call := s.daveCalls[grantKey(u.GuildID, u.ChannelID)]
	return e, call != nil && call.ds.Settled() && e.Ready() && e.Epoch() == call.ds.Epoch()
}

// E2EE returns the user's DAVE member while the call has a DAVE group (nil otherwise): its
// Ready, Epoch and PrivacyCode are what the user's client would show.
func (u *User) E2EE() E2EEMember {
	u.srv.mu.Lock()
	defer u.srv.mu.Unlock()
	return u.e2ee
}

// Hear decrypts one media frame that fromUserID sent (an Opus packet, or a VP8 frame
// reassembled from its packets) as this user's client would. Without a DAVE group frames
// pass through unchanged.
func (u *User) Hear(fromUserID string, frame []byte) ([]byte, error) {
	e := u.E2EE()
	if e == nil {
		return slices.Clone(frame), nil
	}
	return e.DecryptFrame(snowflake(fromUserID), nil, frame)
}

// DAVEGroup describes a call's DAVE group as the voice gateway sees it.
type DAVEGroup struct {
	// Epoch is the group's MLS epoch (0 before it is created).
	Epoch uint64
	// Members are the user IDs in the group, sorted.
	Members []uint64
}

// DAVEGroup returns the DAVE group of a call; false when the call has none (no bot in it
// negotiated DAVE).
func (s *Server) DAVEGroup(guildID, channelID string) (DAVEGroup, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := s.daveCalls[grantKey(guildID, channelID)]
	if call == nil {
		return DAVEGroup{}, false
	}
	members := call.ds.GroupMembers()
	slices.Sort(members)
	return DAVEGroup{Epoch: call.ds.Epoch(), Members: members}, true
}
