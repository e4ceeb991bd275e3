package dave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/spellcoven/gateway/voice/dave/internal/mls"
)

// Session is one member's side of DAVE in one voice connection: it consumes the voice
// gateway's DAVE opcodes, answers with the messages to send back, keeps the MLS group, and
// hands out the frame encryptor for this member and a frame decryptor per remote sender.
//
// The voice client feeds it: [Session.Start] with the session description's
// dave_protocol_version (opcode 4), [Session.ClientsConnect] and [Session.ClientDisconnect]
// with opcodes 11 and 13, and every DAVE message through [Session.HandleBinary] and
// [Session.HandleJSON]. Each call returns the messages to send, in order; a returned error
// is for logging, and messages returned alongside it must still be sent (they carry the
// protocol's recovery). Gateway calls must come from one goroutine at a time; the frame
// methods may run concurrently with them.
type Session struct {
	cfg Config
	lim *limits
	sig *mls.SigningKey

	mu              sync.Mutex // gateway-side state
	protocolVersion int
	external        *mls.ExternalSender
	secrets         *mls.LeafSecrets // the key package this member last sent
	group           *mls.Group       // established group, or the pending local one
	established     bool             // group came from a commit or Welcome
	recognized      map[uint64]bool
	pending         *PrepareTransition
	nextSendRatchet *keyRatchet // own key of a processed commit, used once the transition executes
	ready           bool        // an end-to-end encrypted transition has executed
	privacyCode     string

	encryptor *FrameEncryptor

	dmu         sync.RWMutex
	decryptors  map[uint64]*FrameDecryptor
	passForever bool // what a new decryptor starts with
}

// NewSession creates a session. Until [Session.Start] selects a protocol version above 0,
// frames pass through unencrypted.
func NewSession(cfg Config) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var sig *mls.SigningKey
	if cfg.SigningKey != nil {
		sig, err = mls.ParseSigningKey(cfg.SigningKey)
	} else {
		sig, err = mls.GenerateSigningKey()
	}
	if err != nil {
		return nil, fmt.Errorf("dave: signing key: %w", err)
	}
	s := &Session{
		cfg:         cfg,
		lim:         cfg.limits(),
		sig:         sig,
		recognized:  map[uint64]bool{cfg.UserID: true},
		encryptor:   &FrameEncryptor{passthrough: true},
		decryptors:  map[uint64]*FrameDecryptor{},
		passForever: true,
	}
	return s, nil
}

// SignaturePublicKey returns this member's public signature key (an uncompressed P-256
// point), the identity others see in the group.
func (s *Session) SignaturePublicKey() []byte { return bytes.Clone(s.sig.PublicKey()) }

// ProtocolVersion returns the DAVE protocol version in effect (0: transport encryption only).
func (s *Session) ProtocolVersion() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protocolVersion
}

// Ready reports whether media is end-to-end encrypted: a transition into a DAVE group has
// executed and the protocol version is above 0.
func (s *Session) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready && s.protocolVersion > 0
}

// Epoch returns the MLS epoch of the established group, 0 without one.
func (s *Session) Epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.established {
		return 0
	}
	return s.group.Epoch()
}

// EpochAuthenticator returns the established group's epoch authenticator, nil without one.
func (s *Session) EpochAuthenticator() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.established {
		return nil
	}
	return s.group.EpochAuthenticator()
}

// PrivacyCode returns the voice privacy code of the last executed transition: the epoch
// authenticator as 30 digits in groups of 5, which members compare out of band. Empty
// before the first transition.
func (s *Session) PrivacyCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.privacyCode
}

// Members returns the user IDs of the established group, in leaf order.
func (s *Session) Members() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.established {
		return nil
	}
	var ids []uint64
	for _, m := range s.group.Members() {
		ids = append(ids, m.UserID)
	}
	return ids
}

// ClientsConnect records users the voice gateway announced (opcode 11); add proposals for
// anyone else are refused.
func (s *Session) ClientsConnect(userIDs ...uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range userIDs {
		s.recognized[id] = true
	}
}

// ClientDisconnect forgets a user who left (opcode 13) and drops its decryptor.
func (s *Session) ClientDisconnect(userID uint64) {
	s.mu.Lock()
	if userID != s.cfg.UserID {
		delete(s.recognized, userID)
	}
	s.mu.Unlock()
	s.dmu.Lock()
	delete(s.decryptors, userID)
	s.dmu.Unlock()
}

// Start applies the session description's dave_protocol_version (opcode 4). Above 0 it
// prepares a key package and returns opcode 26 to send.
func (s *Session) Start(protocolVersion int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkVersion(protocolVersion); err != nil {
		return nil, err
	}
	s.protocolVersion = protocolVersion
	if protocolVersion == 0 {
		return nil, nil
	}
	return s.resetGroupLocked()
}

func checkVersion(v int) error {
	if v < 0 || v > ProtocolVersion {
		return fmt.Errorf("dave: protocol version %d is not supported (max %d)", v, ProtocolVersion)
	}
	return nil
}

// resetGroupLocked drops all MLS state, creates a fresh key package (and the pending local
// group when the external sender is known) and returns opcode 26.
func (s *Session) resetGroupLocked() ([]Message, error) {
	secrets, err := mls.NewLeafSecrets(s.cfg.UserID, s.sig)
	if err != nil {
		return nil, err
	}
	s.secrets, s.group, s.established, s.nextSendRatchet = secrets, nil, false, nil
	if err := s.createPendingGroupLocked(); err != nil {
		return nil, err
	}
	return []Message{{Op: OpKeyPackage, Payload: secrets.KeyPackage.Encode()}}, nil
}

func (s *Session) createPendingGroupLocked() error {
	if s.external == nil || s.secrets == nil {
		return nil
	}
	g, err := mls.NewGroup(binary.BigEndian.AppendUint64(nil, s.cfg.ChannelID), s.secrets, *s.external)
	if err != nil {
		return err
	}
	s.group = g
	return nil
}

// HandleBinary handles a binary message from the voice gateway ([seq][opcode][payload]).
func (s *Session) HandleBinary(frame []byte) ([]Message, error) {
	_, op, payload, err := ParseServerFrame(frame)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpExternalSender:
		return nil, s.onExternalSender(payload)
	case OpProposals:
		return s.onProposals(payload)
	case OpAnnounceCommit:
		return s.onCommit(payload)
	case OpWelcome:
		return s.onWelcome(payload)
	default:
		return nil, fmt.Errorf("dave: unexpected binary opcode %d", op)
	}
}

func (s *Session) onExternalSender(payload []byte) error {
	ext, err := mls.DecodeExternalSender(payload)
	if err != nil {
		return err
	}
	if s.established {
		return errors.New("dave: external sender changed after the group was established")
	}
	s.external = ext
	return s.createPendingGroupLocked()
}

var (
	// ErrUnrecognizedUser reports an add proposal for a user the gateway never announced.
	ErrUnrecognizedUser = errors.New("dave: add proposal for a user not in the voice session")
)

func (s *Session) onProposals(payload []byte) ([]Message, error) {
	if s.group == nil {
		return nil, nil // no local group yet: the protocol says to ignore proposals
	}
	p, err := parseProposals(payload)
	if err != nil {
		return nil, err
	}
	if p.revoke {
		for _, ref := range p.refs {
			if err := s.group.RevokeProposal(ref); err != nil {
				return nil, err
			}
		}
	} else if err := s.receiveProposalsLocked(p.proposals); err != nil {
		return nil, err
	}
	if s.group.PendingProposals() == 0 {
		return nil, nil
	}
	pc, err := s.group.Commit()
	if err != nil {
		return nil, err
	}
	return []Message{{Op: OpCommitWelcome, Payload: commitWelcomePayload(pc.Message, pc.Welcome)}}, nil
}

// receiveProposalsLocked caches a message's proposals, all or none.
func (s *Session) receiveProposalsLocked(msgs []*mls.PublicMessage) error {
	var refs [][]byte
	undo := func(err error) error {
		for _, ref := range refs {
			_ = s.group.RevokeProposal(ref)
		}
		return err
	}
	for _, m := range msgs {
		if s.group.PendingProposals() >= s.cfg.MaxPendingProposals {
			return undo(fmt.Errorf("dave: more than %d proposals pending in one epoch", s.cfg.MaxPendingProposals))
		}
		if m.Content.Proposal != nil && m.Content.Proposal.Type == mls.ProposalAdd {
			uid, err := m.Content.Proposal.Add.UserID()
			if err != nil {
				return undo(err)
			}
			if !s.recognized[uid] {
				return undo(fmt.Errorf("%w: %d", ErrUnrecognizedUser, uid))
			}
		}
		_, ref, err := s.group.ReceiveProposal(m)
		if err != nil {
			return undo(err)
		}
		refs = append(refs, ref)
	}
	return nil
}

func (s *Session) onCommit(payload []byte) ([]Message, error) {
	tid, commit, err := parseTransitionPayload(payload)
	if err != nil {
		return nil, err
	}
	if s.group == nil {
		return nil, errors.New("dave: commit without a group")
	}
	next, err := s.group.ProcessCommit(commit)
	if err != nil {
		if !s.established {
			// A pending member is welcomed instead when another member's commit wins.
			return nil, nil
		}
		return s.recoverLocked(tid, fmt.Errorf("dave: commit: %w", err))
	}
	return s.adoptGroupLocked(next, tid)
}

func (s *Session) onWelcome(payload []byte) ([]Message, error) {
	tid, raw, err := parseTransitionPayload(payload)
	if err != nil {
		return nil, err
	}
	if s.established {
		return nil, errors.New("dave: welcome while already in the group")
	}
	if s.secrets == nil || s.external == nil {
		return s.recoverLocked(tid, errors.New("dave: welcome before the key package and external sender"))
	}
	w, err := mls.DecodeWelcome(raw)
	if err != nil {
		return s.recoverLocked(tid, err)
	}
	g, err := mls.Join(w, s.secrets)
	if err != nil {
		return s.recoverLocked(tid, fmt.Errorf("dave: welcome: %w", err))
	}
	senders, err := g.ExternalSenders()
	if err != nil || len(senders) != 1 || !senders[0].Equal(s.external) {
		return s.recoverLocked(tid, errors.New("dave: welcome's group does not have exactly the voice gateway as external sender"))
	}
	return s.adoptGroupLocked(g, tid)
}

// recoverLocked answers an unprocessable commit or Welcome: opcode 31, then a fresh key
// package (the gateway removes and re-adds this member).
func (s *Session) recoverLocked(tid uint16, cause error) ([]Message, error) {
	msgs := []Message{{Op: OpInvalidCommitWelcome, Data: Transition{TransitionID: tid}}}
	kp, err := s.resetGroupLocked()
	if err != nil {
		return msgs, errors.Join(cause, err)
	}
	return append(msgs, kp...), cause
}

// adoptGroupLocked makes g the established group: receivers get the new epoch's sender
// keys at once; this member's own key waits for the transition to execute.
func (s *Session) adoptGroupLocked(g *mls.Group, tid uint16) ([]Message, error) {
	s.group, s.established = g, true
	members := g.Members()
	s.dmu.Lock()
	inGroup := map[uint64]bool{}
	for _, m := range members {
		inGroup[m.UserID] = true
		if m.UserID == s.cfg.UserID {
			continue
		}
		d := s.decryptorLocked(m.UserID)
		d.addRatchet(newKeyRatchet(senderBaseSecret(g, m.UserID)))
	}
	for uid := range s.decryptors {
		if !inGroup[uid] {
			delete(s.decryptors, uid)
		}
	}
	s.dmu.Unlock()
	s.nextSendRatchet = newKeyRatchet(senderBaseSecret(g, s.cfg.UserID))
	if tid == 0 {
		s.executeLocked(tid, s.protocolVersion)
		return nil, nil
	}
	s.pending = &PrepareTransition{TransitionID: tid, ProtocolVersion: s.protocolVersion}
	return []Message{{Op: OpTransitionReady, Data: Transition{TransitionID: tid}}}, nil
}
