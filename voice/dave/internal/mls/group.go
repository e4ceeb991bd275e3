package mls

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
)

// Member is one leaf of the group as DAVE sees it.
type Member struct {
	LeafIndex    uint32
	UserID       uint64
	SignatureKey []byte
}

// cachedProposal is a proposal received from the external sender in the current epoch.
type cachedProposal struct {
	ref      []byte
	proposal *Proposal
}

// Group is one member's state of an MLS group in one epoch. Processing a commit returns the
// next epoch's Group and leaves the receiver unchanged, so a failed commit costs nothing.
// A Group is not safe for concurrent use.
type Group struct {
	groupID    []byte
	epoch      uint64
	extensions []Extension
	tree       *ratchetTree
	transcript transcript
	secrets    epochSecrets
	self       uint32
	sig        *SigningKey
	// privKeys holds the HPKE private keys this member knows: its leaf's and those of parent
	// nodes on its direct path learned from path secrets.
	privKeys  map[nodeIndex]*HPKEKey
	proposals []cachedProposal
	// pending is this member's own commit for the epoch, kept until the voice gateway
	// announces the winner.
	pending *PendingCommit
}

// ErrRemoved reports a commit that removes this member from the group.
var ErrRemoved = errors.New("mls: this member was removed from the group")

// LeafSecrets are the private halves of a member's leaf and of its key package: the leaf's
// encryption key and the key package's init key, which opens its Welcome.
type LeafSecrets struct {
	sig        *SigningKey
	leafKey    *HPKEKey
	initKey    *HPKEKey
	KeyPackage *KeyPackage
}

// NewLeafSecrets creates a key package for userID, signed with sig, with fresh encryption and
// init keys: what a pending DAVE member both creates its local group with and sends to the
// voice gateway.
func NewLeafSecrets(userID uint64, sig *SigningKey) (*LeafSecrets, error) {
	leafKey, err := generateHPKEKey()
	if err != nil {
		return nil, err
	}
	initKey, err := generateHPKEKey()
	if err != nil {
		return nil, err
	}
	leaf := &LeafNode{
		EncryptionKey: leafKey.PublicKey(),
		SignatureKey:  sig.PublicKey(),
		Credential:    BasicCredential(userID),
		Capabilities:  DAVECapabilities(),
		Source:        LeafSourceKeyPackage,
		Lifetime:      MaxLifetime,
	}
	if err := leaf.sign(sig, nil, 0); err != nil {
		return nil, err
	}
	kp, err := newKeyPackage(sig, leaf, initKey)
	if err != nil {
		return nil, err
	}
	return &LeafSecrets{sig: sig, leafKey: leafKey, initKey: initKey, KeyPackage: kp}, nil
}

// NewGroup creates a one-member group in epoch 0 whose only external sender is ext: DAVE's
// pending local group. The member's leaf is its key package's leaf.
func NewGroup(groupID []byte, secrets *LeafSecrets, ext ExternalSender) (*Group, error) {
	leaf := secrets.KeyPackage.LeafNode
	g := &Group{
		groupID:    slices.Clone(groupID),
		extensions: []Extension{externalSendersExtension([]ExternalSender{ext})},
		tree:       newTree(&leaf),
		sig:        secrets.sig,
		privKeys:   map[nodeIndex]*HPKEKey{0: secrets.leafKey},
	}
	epochSecret := make([]byte, hashSize)
	if _, err := rand.Read(epochSecret); err != nil {
		return nil, err
	}
	g.secrets = epochFromSecret(epochSecret)
	tag := mac(g.secrets.confirmation, nil)
	g.transcript = transcript{interim: interimHash(nil, tag)}
	return g, nil
}

// GroupID returns the group's ID (DAVE: the big-endian channel ID).
func (g *Group) GroupID() []byte { return g.groupID }

// Epoch returns the current epoch.
func (g *Group) Epoch() uint64 { return g.epoch }

// LeafIndex returns this member's leaf index.
func (g *Group) LeafIndex() uint32 { return g.self }

// Export is the MLS-Exporter of the current epoch.
func (g *Group) Export(label string, context []byte, length int) []byte {
	return g.secrets.export(label, context, length)
}

// EpochAuthenticator returns the epoch's authenticator, which members compare out of band.
func (g *Group) EpochAuthenticator() []byte { return slices.Clone(g.secrets.authenticator) }

// Members lists the group's members in leaf order.
func (g *Group) Members() []Member {
	var ms []Member
	g.tree.members(func(i uint32, l *LeafNode) {
		uid, _ := l.UserID()
		ms = append(ms, Member{LeafIndex: i, UserID: uid, SignatureKey: l.SignatureKey})
	})
	return ms
}

// ExternalSenders returns the group's external_senders extension.
func (g *Group) ExternalSenders() ([]ExternalSender, error) {
	data, ok := findExtension(g.extensions, ExtensionExternalSenders)
	if !ok {
		return nil, errors.New("mls: group has no external_senders extension")
	}
	return decodeExternalSenders(data)
}

func (g *Group) groupContext() *GroupContext {
	return &GroupContext{
		CipherSuite:             CipherSuiteP256,
		GroupID:                 g.groupID,
		Epoch:                   g.epoch,
		TreeHash:                g.tree.rootHash(),
		ConfirmedTranscriptHash: g.transcript.confirmed,
		Extensions:              g.extensions,
	}
}

// ReceiveProposal verifies a proposal sent by the group's external sender in this epoch and
// caches it for the next commit. It returns the proposal and its reference.
func (g *Group) ReceiveProposal(m *PublicMessage) (*Proposal, []byte, error) {
	c := &m.Content
	if !equalBytes(c.GroupID, g.groupID) {
		return nil, nil, errors.New("mls: proposal for another group")
	}
	if c.Epoch != g.epoch {
		return nil, nil, fmt.Errorf("mls: proposal for epoch %d in epoch %d", c.Epoch, g.epoch)
	}
	if c.ContentType != ContentProposal {
		return nil, nil, errors.New("mls: message is not a proposal")
	}
	if c.Sender.Type != SenderExternal {
		return nil, nil, errors.New("mls: proposal not sent by the external sender")
	}
	senders, err := g.ExternalSenders()
	if err != nil {
		return nil, nil, err
	}
	if int(c.Sender.Index) >= len(senders) {
		return nil, nil, fmt.Errorf("mls: unknown external sender %d", c.Sender.Index)
	}
	if err := m.verifySignature(senders[c.Sender.Index].SignatureKey, nil); err != nil {
		return nil, nil, fmt.Errorf("mls: proposal: %w", err)
	}
	p := c.Proposal
	switch p.Type {
	case ProposalAdd:
		if err := p.Add.Verify(); err != nil {
			return nil, nil, err
		}
	case ProposalRemove:
		if g.tree.leaf(p.Removed) == nil {
			return nil, nil, fmt.Errorf("mls: proposal removes blank leaf %d", p.Removed)
		}
	}
	ref := m.ProposalRef()
	for _, cp := range g.proposals {
		if equalBytes(cp.ref, ref) {
			return nil, nil, errors.New("mls: proposal received twice")
		}
	}
	g.proposals = append(g.proposals, cachedProposal{ref: ref, proposal: p})
	g.pending = nil
	return p, ref, nil
}

// RevokeProposal drops a cached proposal by reference.
func (g *Group) RevokeProposal(ref []byte) error {
	for i, cp := range g.proposals {
		if equalBytes(cp.ref, ref) {
			g.proposals = slices.Delete(g.proposals, i, i+1)
			g.pending = nil
			return nil
		}
	}
	return errors.New("mls: revoked proposal is not cached")
}

// PendingProposals is the number of cached proposals.
func (g *Group) PendingProposals() int { return len(g.proposals) }

// cachedByRef finds a cached proposal.
func (g *Group) cachedByRef(ref []byte) *Proposal {
	for _, cp := range g.proposals {
		if equalBytes(cp.ref, ref) {
			return cp.proposal
		}
	}
	return nil
}

// joiner is a member added by a commit.
type joiner struct {
	leaf uint32
	kp   *KeyPackage
}

// applyProposals applies removes, then adds, to a copy of the tree, checking each one.
// committer is the sender's leaf.
func (g *Group) applyProposals(props []*Proposal, committer uint32) (*ratchetTree, []joiner, error) {
	t := g.tree.clone()
	removed := map[uint32]bool{}
	for _, p := range props {
		if p.Type != ProposalRemove {
			continue
		}
		if t.leaf(p.Removed) == nil || removed[p.Removed] {
			return nil, nil, fmt.Errorf("mls: commit removes blank leaf %d", p.Removed)
		}
		if p.Removed == committer {
			return nil, nil, errors.New("mls: commit removes its own sender")
		}
		removed[p.Removed] = true
		t.removeLeaf(p.Removed)
	}
	var joiners []joiner
	for _, p := range props {
		if p.Type != ProposalAdd {
			continue
		}
		if err := p.Add.Verify(); err != nil {
			return nil, nil, err
		}
		leaf := p.Add.LeafNode
		joiners = append(joiners, joiner{leaf: t.addLeaf(&leaf), kp: p.Add})
	}
	return t, joiners, nil
}

// pruneKeys keeps the private keys whose node still holds the matching public key.
func pruneKeys(t *ratchetTree, keys map[nodeIndex]*HPKEKey) map[nodeIndex]*HPKEKey {
	out := make(map[nodeIndex]*HPKEKey, len(keys))
	for x, k := range keys {
		if int(x) < len(t.nodes) && !t.nodes[x].blank() && equalBytes(t.nodes[x].encryptionKey(), k.pub) {
			out[x] = k
		}
	}
	return out
}
