package dave

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spellcoven/gateway/voice/dave/internal/mls"
)

// DeliveryService is the voice gateway's part of DAVE for one voice channel: the MLS
// delivery service and the group's external sender. It validates key packages, signs add and
// remove proposals, picks the winning commit of each epoch, forwards each new member its
// Welcome, and runs the transitions that follow, so that every connected member shares one
// group. The Discord emulator's voice server uses it; it does no I/O and keeps no clock of
// its own: every event returns the deliveries to send, in order, and [DeliveryService.Tick]
// executes transitions whose members did not all report ready in time.
type DeliveryService struct {
	cfg     ServiceConfig
	signer  *mls.ExternalSigner
	groupID []byte

	mu          sync.Mutex
	members     map[uint64]*dsMember
	established bool
	epoch       uint64
	leaves      []uint64 // user ID per leaf index, 0 for blank; mirrors the group's tree
	proposals   []*dsProposal
	nextTID     uint16
	transition  *dsTransition
}

// ServiceConfig describes a voice channel's DAVE delivery service.
type ServiceConfig struct {
	// ChannelID is the voice channel (the MLS group ID). Required.
	ChannelID uint64
	// SigningKey is the external sender's P-256 private key (32-byte scalar); nil generates
	// one. It is a secret: never logged.
	SigningKey []byte
	// Identity is the external sender's basic credential identity (default "voice-gateway").
	Identity []byte
	// TransitionTimeout is how long a transition waits for every member's ready before it
	// executes anyway (default 2 s, DefaultTransitionTimeout).
	TransitionTimeout time.Duration
	// MaxMembers bounds the members of the channel's group (default 1000).
	MaxMembers int
}

// Defaults of ServiceConfig.
const (
	DefaultTransitionTimeout = 2 * time.Second
	DefaultMaxMembers        = 1000
)

// Delivery is one message for one member.
type Delivery struct {
	UserID  uint64
	Message Message
}

type dsMember struct {
	userID     uint64
	keyPackage *mls.KeyPackage // not yet added
	inGroup    bool
}

type dsProposal struct {
	ref     []byte
	message []byte // MLSMessage
	add     *mls.KeyPackage
	user    uint64 // added or removed user
	removed uint32 // leaf, for removes
	sent    []uint64
}

type dsTransition struct {
	id       uint16
	deadline time.Time
	waiting  map[uint64]bool
	members  []uint64
}

// NewDeliveryService creates the delivery service of a voice channel.
func NewDeliveryService(cfg ServiceConfig) (*DeliveryService, error) {
	switch {
	case cfg.ChannelID == 0:
		return nil, errors.New("dave: ServiceConfig.ChannelID is required")
	case cfg.TransitionTimeout < 0:
		return nil, errors.New("dave: ServiceConfig.TransitionTimeout must not be negative")
	case cfg.MaxMembers < 0:
		return nil, errors.New("dave: ServiceConfig.MaxMembers must not be negative")
	case cfg.SigningKey != nil && len(cfg.SigningKey) != 32:
		return nil, errors.New("dave: ServiceConfig.SigningKey must be a 32-byte P-256 scalar")
	}
	if cfg.TransitionTimeout == 0 {
		cfg.TransitionTimeout = DefaultTransitionTimeout
	}
	if cfg.MaxMembers == 0 {
		cfg.MaxMembers = DefaultMaxMembers
	}
	if cfg.Identity == nil {
		cfg.Identity = []byte("voice-gateway")
	}
	var key *mls.SigningKey
	var err error
	if cfg.SigningKey != nil {
		key, err = mls.ParseSigningKey(cfg.SigningKey)
	} else {
		key, err = mls.GenerateSigningKey()
	}
	if err != nil {
		return nil, fmt.Errorf("dave: external sender key: %w", err)
	}
	return &DeliveryService{
		cfg:     cfg,
		signer:  mls.NewExternalSigner(key, cfg.Identity),
		groupID: binary.BigEndian.AppendUint64(nil, cfg.ChannelID),
		members: map[uint64]*dsMember{},
	}, nil
}

// ExternalSenderPackage returns opcode 25's payload, sent to every member on connect.
func (ds *DeliveryService) ExternalSenderPackage() []byte {
	ext := ds.signer.ExternalSender()
	return ext.Encode()
}

// Epoch returns the established group's epoch, 0 while the group is being created.
func (ds *DeliveryService) Epoch() uint64 {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.epoch
}

// GroupMembers returns the users in the established group, by leaf index.
func (ds *DeliveryService) GroupMembers() []uint64 {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var ids []uint64
	for _, u := range ds.leaves {
		if u != 0 {
			ids = append(ids, u)
		}
	}
	return ids
}

// Settled reports whether the group is at rest: every connected member is in it, no
// proposal is in flight and no transition is waiting to execute. Media a member sends then is
// encrypted with keys every other member holds.
func (ds *DeliveryService) Settled() bool {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if !ds.established || ds.transition != nil || len(ds.proposals) > 0 {
		return false
	}
	for _, m := range ds.members {
		if !m.inGroup {
			return false
		}
	}
	return true
}

// Connect registers a member that identified with DAVE support and returns opcode 25 for it.
func (ds *DeliveryService) Connect(userID uint64) ([]Delivery, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if userID == 0 {
		return nil, errors.New("dave: user ID 0")
	}
	if _, ok := ds.members[userID]; ok {
		return nil, fmt.Errorf("dave: user %d is already connected", userID)
	}
	if len(ds.members) >= ds.cfg.MaxMembers {
		return nil, fmt.Errorf("dave: the channel already has %d members", ds.cfg.MaxMembers)
	}
	ds.members[userID] = &dsMember{userID: userID}
	return []Delivery{{UserID: userID, Message: Message{Op: OpExternalSender, Payload: ds.ExternalSenderPackage()}}}, nil
}

// leafOf returns a user's leaf index in the established group.
func (ds *DeliveryService) leafOf(userID uint64) (uint32, bool) {
	i := slices.Index(ds.leaves, userID)
	return uint32(i), i >= 0
}

// groupUsers lists users currently in the established group.
func (ds *DeliveryService) groupUsers() []uint64 {
	var ids []uint64
	for _, u := range ds.leaves {
		if u != 0 {
			ids = append(ids, u)
		}
	}
	return ids
}

// pendingUsers lists connected users outside the group.
func (ds *DeliveryService) pendingUsers() []uint64 {
	var ids []uint64
	for id, m := range ds.members {
		if !m.inGroup {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// KeyPackage handles opcode 26 from userID: it validates the key package and proposes to add
// the user (after removing its stale leaf, if it had one).
func (ds *DeliveryService) KeyPackage(userID uint64, payload []byte) ([]Delivery, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	m := ds.members[userID]
	if m == nil {
		return nil, fmt.Errorf("dave: key package from unknown user %d", userID)
	}
	kp, err := mls.DecodeKeyPackage(payload)
	if err != nil {
		return nil, err
	}
	if err := kp.Verify(); err != nil {
		return nil, err
	}
	if uid, _ := kp.UserID(); uid != userID {
		return nil, fmt.Errorf("dave: key package of user %d names user %d", userID, uid)
	}
	if kp.LeafNode.Lifetime != mls.MaxLifetime {
		return nil, errors.New("dave: key package lifetime must span 0 to 2^64-1")
	}
	var out []Delivery
	// A member replacing its key package: drop the in-flight add; its stale leaf goes too.
	for _, p := range ds.proposals {
		if p.add != nil && p.user == userID {
			out = append(out, ds.revokeLocked(p)...)
			break
		}
	}
	m.inGroup = false
	m.keyPackage = kp
	if ds.transition != nil && ds.established {
		// Proposals for the next epoch wait until the current transition executes.
		return out, nil
	}
	out = append(out, ds.proposeQueuedLocked()...)
	if !ds.established {
		// A member joining a group still being created gets the adds in flight for the
		// other pending members, so it can commit too.
		var inFlight [][]byte
		for _, p := range ds.proposals {
			if p.add != nil && p.user != userID && !slices.Contains(p.sent, userID) {
				p.sent = append(p.sent, userID)
				inFlight = append(inFlight, p.message)
			}
		}
		if len(inFlight) > 0 {
			out = append(out, Delivery{UserID: userID, Message: Message{Op: OpProposals, Payload: proposalsPayload(false, inFlight)}})
		}
	}
	return out, nil
}

// proposalRecipients are the committing members: the group's members, or while the group is
// being created every pending member but the proposal's subject.
func (ds *DeliveryService) proposalRecipients(subject uint64) []uint64 {
	if ds.established {
		var ids []uint64
		for _, u := range ds.groupUsers() {
			if m := ds.members[u]; m != nil && m.inGroup {
				ids = append(ids, u)
			}
		}
		return ids
	}
	var ids []uint64
	for _, id := range ds.pendingUsers() {
		if id != subject {
			ids = append(ids, id)
		}
	}
	return ids
}

// proposeLocked signs a proposal for the current epoch and records it as in flight; the
// caller sends it with sendLocked.
func (ds *DeliveryService) proposeLocked(p *mls.Proposal, subject uint64) (*dsProposal, error) {
	msg, err := ds.signer.SignProposal(ds.groupID, ds.epoch, p)
	if err != nil {
		return nil, err
	}
	dp := &dsProposal{ref: msg.ProposalRef(), message: mls.EncodePublicMessage(msg), user: subject}
	if p.Type == mls.ProposalAdd {
		dp.add = p.Add
	} else {
		dp.removed = p.Removed
	}
	ds.proposals = append(ds.proposals, dp)
	return dp, nil
}

// sendLocked sends proposals to their committing members, batched into one opcode 27 per
// member so that each member's next commit covers them all.
func (ds *DeliveryService) sendLocked(props []*dsProposal) []Delivery {
	var order []uint64
	batches := map[uint64][][]byte{}
	for _, p := range props {
		for _, to := range ds.proposalRecipients(p.user) {
			if _, ok := batches[to]; !ok {
				order = append(order, to)
			}
			batches[to] = append(batches[to], p.message)
			p.sent = append(p.sent, to)
		}
	}
	out := make([]Delivery, 0, len(order))
	for _, to := range order {
		out = append(out, Delivery{UserID: to, Message: Message{Op: OpProposals, Payload: proposalsPayload(false, batches[to])}})
	}
	return out
}

// revokeLocked withdraws an in-flight proposal from everyone who got it.
func (ds *DeliveryService) revokeLocked(p *dsProposal) []Delivery {
	ds.proposals = slices.DeleteFunc(ds.proposals, func(q *dsProposal) bool { return q == p })
	var out []Delivery
	for _, to := range p.sent {
		if _, ok := ds.members[to]; ok {
			out = append(out, Delivery{UserID: to, Message: Message{Op: OpProposals, Payload: proposalsPayload(true, [][]byte{p.ref})}})
		}
	}
	return out
}
