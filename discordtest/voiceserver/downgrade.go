package voiceserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"time"

	"github.com/spellcoven/gateway/voice/dave"
)

// A call mixing DAVE members with a transport-only client (a stage-channel client, or one from
// before DAVE) is downgraded to protocol version 0, as Discord's voice gateway does: opcode 21
// with version 0 to every member, opcode 22 once all answered ready (or DAVETransitionTimeout
// passed), and from then on everyone sends clear frames under transport encryption alone. When
// the last transport-only client leaves, the call is upgraded again: a new group on the same
// external sender, opcode 24 (epoch 1, version 1) to the bots, which answer with fresh key
// packages, and new member sessions for the emulated users.

// pendingDowngrade is a downgrade whose execution waits for the members' ready.
type pendingDowngrade struct {
	tid      uint16
	waiting  map[uint64]bool
	deadline time.Time
}

// downgradeTransitionBase keeps downgrade transition IDs apart from the delivery service's,
// which count up from 1.
const downgradeTransitionBase = 0x8000

// callSigningKeyLocked returns the external sender key of a call, the same for every group the
// call has, so that members who kept opcode 25 need not get it again.
func (s *Server) callSigningKeyLocked(key string) []byte {
	if k := s.daveKeys[key]; k != nil {
		return k
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil // NewDeliveryService then generates one
	}
	k, err := priv.Bytes()
	if err != nil {
		return nil
	}
	s.daveKeys[key] = k
	return k
}

// newDAVECallLocked creates a call's DAVE state with a fresh delivery service.
func (s *Server) newDAVECallLocked(guildID, channelID string) (*daveCall, error) {
	key := grantKey(guildID, channelID)
	ds, err := dave.NewDeliveryService(dave.ServiceConfig{
		ChannelID: snowflake(channelID), TransitionTimeout: s.cfg.DAVETransitionTimeout,
		SigningKey: s.callSigningKeyLocked(key),
	})
	if err != nil {
		return nil, err
	}
	call := &daveCall{key: key, guildID: guildID, channelID: channelID, ds: ds, users: map[uint64]*User{}}
	s.daveCalls[key] = call
	return call, nil
}

// transportOnlyInCallLocked reports whether a client without DAVE has media set up in a call.
func (s *Server) transportOnlyInCallLocked(guildID, channelID string) bool {
	for _, sess := range s.sessionsInCallLocked(guildID, channelID) {
		if sess.maxDAVE < 1 && sess.botAddr != nil {
			return true
		}
	}
	return false
}

// daveDowngradeLocked starts the downgrade of a call whose DAVE group a transport-only client
// just joined.
func (s *Server) daveDowngradeLocked(guildID, channelID string) {
	call := s.daveCalls[grantKey(guildID, channelID)]
	if call == nil || call.downgrade != nil {
		return
	}
	s.downgrades++
	dg := &pendingDowngrade{
		tid:      downgradeTransitionBase | uint16(s.downgrades&0x7fff),
		waiting:  map[uint64]bool{},
		deadline: time.Now().Add(s.cfg.DAVETransitionTimeout),
	}
	call.downgrade = dg
	prepare := dave.Message{Op: dave.OpPrepareTransition, Data: dave.PrepareTransition{TransitionID: dg.tid, ProtocolVersion: 0}}
	for _, b := range s.daveBotsLocked(guildID, channelID) {
		dg.waiting[snowflake(b.bot)] = true
		s.sendDAVELocked(b, prepare)
	}
	for uid, u := range call.users {
		dg.waiting[uid] = true
		s.deliverDAVELocked(call, s.fromDAVEMemberLocked(call, uid, u.handleDAVE(prepare)))
		if s.daveCalls[call.key] != call {
			return // the downgrade completed meanwhile
		}
	}
	if len(dg.waiting) == 0 {
		s.finishDowngradeLocked(call)
	}
}

// downgradeReadyLocked takes a member's ready for the call's pending downgrade; false when tid
// is not the downgrade's (the delivery service's transition, then).
func (s *Server) downgradeReadyLocked(call *daveCall, uid uint64, tid uint16) bool {
	dg := call.downgrade
	if dg == nil || dg.tid != tid {
		return false
	}
	delete(dg.waiting, uid)
	if len(dg.waiting) == 0 {
		s.finishDowngradeLocked(call)
	}
	return true
}

// finishDowngradeLocked executes the downgrade: opcode 22 to every member, then the call has no
// DAVE group until the upgrade.
func (s *Server) finishDowngradeLocked(call *daveCall) {
	if s.daveCalls[call.key] != call {
		return
	}
	delete(s.daveCalls, call.key)
	execute := dave.Message{Op: dave.OpExecuteTransition, Data: dave.Transition{TransitionID: call.downgrade.tid}}
	for _, b := range s.daveBotsLocked(call.guildID, call.channelID) {
		s.sendDAVELocked(b, execute)
		b.daveMember, b.daveVersion = false, 0
	}
	for _, u := range call.users {
		u.handleDAVE(execute)
		u.e2ee = nil
	}
	s.log.Info("voiceserver: call downgraded to DAVE protocol version 0", "call", call.key)
}

// daveUpgradeLocked upgrades a call that no transport-only client is left in.
func (s *Server) daveUpgradeLocked(guildID, channelID string) {
	key := grantKey(guildID, channelID)
	if s.cfg.DisableDAVE || s.daveCalls[key] != nil || s.transportOnlyInCallLocked(guildID, channelID) {
		return
	}
	var bots []*session
	for _, sess := range s.sessionsInCallLocked(guildID, channelID) {
		if sess.botAddr != nil && sess.maxDAVE >= 1 && snowflake(sess.bot) != 0 {
			bots = append(bots, sess)
		}
	}
	if len(bots) == 0 || snowflake(channelID) == 0 {
		return
	}
	call, err := s.newDAVECallLocked(guildID, channelID)
	if err != nil {
		s.log.Error("voiceserver: DAVE delivery service", "error", err)
		return
	}
	for _, b := range bots {
		b.daveMember, b.daveVersion = true, dave.ProtocolVersion
	}
	for _, u := range s.calls[key] {
		s.daveAddUserLocked(call, u)
	}
	epoch := dave.Message{Op: dave.OpPrepareEpoch, Data: dave.PrepareEpoch{Epoch: 1, ProtocolVersion: dave.ProtocolVersion}}
	for _, b := range bots {
		d, err := call.ds.Connect(snowflake(b.bot))
		if err != nil {
			s.daveErrorLocked(b.bot, err)
			continue
		}
		if b.daveExternal {
			d = nil // it holds this call's external sender already
		}
		s.deliverDAVELocked(call, d)
		s.sendDAVELocked(b, epoch)
	}
	s.log.Info("voiceserver: call upgraded to DAVE protocol version 1", "call", key)
}

// downgradeTimeoutsLocked executes downgrades whose members did not all answer in time.
func (s *Server) downgradeTimeoutsLocked(now time.Time) {
	for _, call := range s.daveCalls {
		if dg := call.downgrade; dg != nil && now.After(dg.deadline) {
			s.finishDowngradeLocked(call)
		}
	}
}
