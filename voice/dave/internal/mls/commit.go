package mls

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// PendingCommit is a commit this member created: the MLSMessage to send, the Welcome for the
// members it adds (nil when it adds none), and the state to adopt if the voice gateway picks
// it.
type PendingCommit struct {
	Message []byte
	Welcome *Welcome
	next    *Group
}

// Commit commits every cached proposal by reference, with an UpdatePath when RFC 9420
// requires one, and returns the commit with its Welcome. The group keeps the result to
// recognise its own commit when the gateway announces it.
func (g *Group) Commit() (*PendingCommit, error) {
	if len(g.proposals) == 0 {
		return nil, errors.New("mls: no proposals to commit")
	}
	props := make([]*Proposal, len(g.proposals))
	refs := make([]ProposalOrRef, len(g.proposals))
	for i, cp := range g.proposals {
		props[i] = cp.proposal
		refs[i] = ProposalOrRef{Reference: cp.ref}
	}
	t, joiners, err := g.applyProposals(props, g.self)
	if err != nil {
		return nil, err
	}
	if err := t.verifyStructure(); err != nil {
		return nil, err
	}
	next := g.successor(t)
	commit := &Commit{Proposals: refs}
	commitSecret := make([]byte, hashSize)
	var pathSecrets map[nodeIndex][]byte
	if pathRequired(props) {
		path, cs, ps, keys, err := g.newPath(t, joiners, next.provisionalContext)
		if err != nil {
			return nil, err
		}
		commit.Path, commitSecret, pathSecrets = path, cs, ps
		next.privKeys = keys
	} else {
		next.privKeys = pruneKeys(t, g.privKeys)
	}

	msg := &PublicMessage{Content: FramedContent{
		GroupID:     g.groupID,
		Epoch:       g.epoch,
		Sender:      Sender{Type: SenderMember, Index: g.self},
		ContentType: ContentCommit,
		Commit:      commit,
	}}
	oldCtx := g.groupContext().Encode()
	if err := msg.sign(g.sig, oldCtx); err != nil {
		return nil, err
	}
	joinerSecret := next.enterEpoch(g, msg, commitSecret)
	msg.ConfirmationTag = mac(next.secrets.confirmation, next.transcript.confirmed)
	next.transcript.interim = interimHash(next.transcript.confirmed, msg.ConfirmationTag)
	msg.MembershipTag = mac(g.secrets.membership, msg.tbm(oldCtx))

	pc := &PendingCommit{Message: EncodePublicMessage(msg), next: next}
	if len(joiners) > 0 {
		w, err := next.welcome(joiners, joinerSecret, msg.ConfirmationTag, pathSecrets)
		if err != nil {
			return nil, err
		}
		pc.Welcome = w
	}
	g.pending = pc
	return pc, nil
}

// successor starts the next epoch's state on tree t; the key schedule runs in enterEpoch.
func (g *Group) successor(t *ratchetTree) *Group {
	return &Group{
		groupID:    g.groupID,
		epoch:      g.epoch + 1,
		extensions: g.extensions,
		tree:       t,
		transcript: transcript{confirmed: g.transcript.confirmed},
		self:       g.self,
		sig:        g.sig,
	}
}

// provisionalContext is the serialized GroupContext that encrypts path secrets: the new epoch
// and tree hash with the previous confirmed transcript hash.
func (g *Group) provisionalContext(t *ratchetTree) []byte {
	gc := &GroupContext{
		CipherSuite:             CipherSuiteP256,
		GroupID:                 g.groupID,
		Epoch:                   g.epoch,
		TreeHash:                t.rootHash(),
		ConfirmedTranscriptHash: g.transcript.confirmed,
		Extensions:              g.extensions,
	}
	return gc.Encode()
}

// enterEpoch runs the transcript and key schedule for the commit msg of prev, setting the new
// confirmed transcript hash and epoch secrets; it returns the joiner secret.
func (g *Group) enterEpoch(prev *Group, msg *PublicMessage, commitSecret []byte) []byte {
	g.transcript.confirmed = prev.transcript.confirm(msg.confirmedTranscriptInput())
	ctx := g.groupContext().Encode()
	joiner := joinerSecret(prev.secrets.init, commitSecret, ctx)
	g.secrets = epochFromJoiner(joiner, ctx)
	return joiner
}

// welcome builds the Welcome for the joiners of a commit that created epoch g.
func (g *Group) welcome(joiners []joiner, joinerSecret, confirmationTag []byte, pathSecrets map[nodeIndex][]byte) (*Welcome, error) {
	treeExt := NewWriter(nil)
	g.tree.encode(treeExt)
	info := &GroupInfo{
		GroupContext:    *g.groupContext(),
		Extensions:      []Extension{{Type: ExtensionRatchetTree, Data: treeExt.Bytes()}},
		ConfirmationTag: confirmationTag,
		Signer:          g.self,
	}
	sig, err := g.sig.signWithLabel("GroupInfoTBS", info.tbs())
	if err != nil {
		return nil, err
	}
	info.Signature = sig
	key, nonce := welcomeKeys(joinerSecret)
	enc := NewWriter(nil)
	info.encode(enc)
	encInfo, err := aeadSeal(key, nonce, nil, enc.Bytes())
	if err != nil {
		return nil, err
	}
	w := &Welcome{CipherSuite: CipherSuiteP256, EncryptedGroupInfo: encInfo}
	for _, j := range joiners {
		gs := groupSecrets{JoinerSecret: joinerSecret}
		if pathSecrets != nil {
			gs.PathSecret = pathSecrets[lowestCommonAncestor(leafToNode(g.self), leafToNode(j.leaf))]
		}
		pw := NewWriter(nil)
		gs.encode(pw)
		ct, err := encryptWithLabel(j.kp.InitKey, "Welcome", encInfo, pw.Bytes())
		if err != nil {
			return nil, err
		}
		w.Secrets = append(w.Secrets, EncryptedGroupSecrets{NewMember: j.kp.Ref(), Secrets: ct})
	}
	return w, nil
}

// lowestCommonAncestor returns the lowest node whose subtree holds both a and b.
func lowestCommonAncestor(a, b nodeIndex) nodeIndex {
	for a != b {
		if level(a) < level(b) {
			a = parent(a)
		} else {
			b = parent(b)
		}
	}
	return a
}

// ProcessCommit verifies a commit announced by the voice gateway and returns the group in the
// next epoch. When the commit is this member's own pending commit, the state prepared with it
// is returned. A commit that removes this member returns ErrRemoved.
func (g *Group) ProcessCommit(message []byte) (*Group, error) {
	if g.pending != nil && bytes.Equal(message, g.pending.Message) {
		return g.pending.next, nil
	}
	msg, err := DecodePublicMessage(message)
	if err != nil {
		return nil, err
	}
	c := &msg.Content
	switch {
	case !equalBytes(c.GroupID, g.groupID):
		return nil, errors.New("mls: commit for another group")
	case c.Epoch != g.epoch:
		return nil, fmt.Errorf("mls: commit for epoch %d in epoch %d", c.Epoch, g.epoch)
	case c.ContentType != ContentCommit:
		return nil, errors.New("mls: message is not a commit")
	case c.Sender.Type != SenderMember:
		return nil, errors.New("mls: commit not sent by a member")
	case c.Sender.Index == g.self:
		return nil, errors.New("mls: commit claims to be this member's but is not its pending commit")
	}
	sender := c.Sender.Index
	senderLeaf := g.tree.leaf(sender)
	if senderLeaf == nil {
		return nil, fmt.Errorf("mls: commit from blank leaf %d", sender)
	}
	oldCtx := g.groupContext().Encode()
	if !verifyMAC(g.secrets.membership, msg.tbm(oldCtx), msg.MembershipTag) {
		return nil, errors.New("mls: commit has an invalid membership tag")
	}
	if err := msg.verifySignature(senderLeaf.SignatureKey, oldCtx); err != nil {
		return nil, fmt.Errorf("mls: commit: %w", err)
	}

	var props []*Proposal
	seen := map[string]bool{}
	for _, por := range c.Commit.Proposals {
		if por.Proposal != nil {
			return nil, errors.New("mls: commit carries a proposal by value; DAVE commits only by reference")
		}
		p := g.cachedByRef(por.Reference)
		if p == nil {
			return nil, errors.New("mls: commit references a proposal that was not received")
		}
		if seen[string(por.Reference)] {
			return nil, errors.New("mls: commit references a proposal twice")
		}
		seen[string(por.Reference)] = true
		props = append(props, p)
	}
	for _, p := range props {
		if p.Type == ProposalRemove && p.Removed == g.self {
			return nil, ErrRemoved
		}
	}
	t, joiners, err := g.applyProposals(props, sender)
	if err != nil {
		return nil, err
	}
	next := g.successor(t)
	commitSecret := make([]byte, hashSize)
	keys := pruneKeys(t, g.privKeys)
	switch {
	case c.Commit.Path != nil:
		cs, pathKeys, err := g.applyPath(t, sender, c.Commit.Path, joiners, next.provisionalContext)
		if err != nil {
			return nil, err
		}
		commitSecret = cs
		keys = pruneKeys(t, keys)
		maps.Copy(keys, pathKeys)
	case pathRequired(props):
		return nil, errors.New("mls: commit lacks the update path its proposals require")
	}
	if err := t.verifyStructure(); err != nil {
		return nil, err
	}
	next.privKeys = keys
	next.enterEpoch(g, msg, commitSecret)
	if !verifyMAC(next.secrets.confirmation, next.transcript.confirmed, msg.ConfirmationTag) {
		return nil, errors.New("mls: commit has an invalid confirmation tag")
	}
	next.transcript.interim = interimHash(next.transcript.confirmed, msg.ConfirmationTag)
	return next, nil
}

// CommitProposalRefs returns the proposal references a commit message carries, for the voice
// gateway's validity checks, along with its epoch and sender leaf.
func CommitProposalRefs(message []byte) (epoch uint64, sender uint32, refs [][]byte, err error) {
	msg, err := DecodePublicMessage(message)
	if err != nil {
		return 0, 0, nil, err
	}
	c := &msg.Content
	if c.ContentType != ContentCommit || c.Sender.Type != SenderMember {
		return 0, 0, nil, errors.New("mls: not a member's commit")
	}
	for _, p := range c.Commit.Proposals {
		if p.Proposal != nil {
			return 0, 0, nil, errors.New("mls: commit carries a proposal by value")
		}
		refs = append(refs, slices.Clone(p.Reference))
	}
	return c.Epoch, c.Sender.Index, refs, nil
}
