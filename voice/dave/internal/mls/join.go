package mls

import (
	"errors"
	"fmt"
)

// Join processes a Welcome addressed to the key package of secrets and returns the group it
// joins, after verifying the GroupInfo signature, the ratchet tree (tree hash, parent hashes,
// every leaf's signature, unique members), the path secret and the confirmation tag.
func Join(w *Welcome, secrets *LeafSecrets) (*Group, error) {
	if w.CipherSuite != CipherSuiteP256 {
		return nil, fmt.Errorf("mls: welcome ciphersuite %d", w.CipherSuite)
	}
	ref := secrets.KeyPackage.Ref()
	var mine *EncryptedGroupSecrets
	for i := range w.Secrets {
		if equalBytes(w.Secrets[i].NewMember, ref) {
			mine = &w.Secrets[i]
			break
		}
	}
	if mine == nil {
		return nil, errors.New("mls: welcome is not addressed to this key package")
	}
	raw, err := decryptWithLabel(secrets.initKey.priv, "Welcome", w.EncryptedGroupInfo, mine.Secrets)
	if err != nil {
		return nil, fmt.Errorf("mls: welcome secrets: %w", err)
	}
	var gs groupSecrets
	r := NewReader(raw)
	gs.decode(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: welcome secrets: %w", err)
	}
	key, nonce := welcomeKeys(gs.JoinerSecret)
	rawInfo, err := aeadOpen(key, nonce, nil, w.EncryptedGroupInfo)
	if err != nil {
		return nil, err
	}
	var info GroupInfo
	r = NewReader(rawInfo)
	info.decode(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: group info: %w", err)
	}
	gc := &info.GroupContext
	if gc.CipherSuite != CipherSuiteP256 {
		return nil, fmt.Errorf("mls: group ciphersuite %d", gc.CipherSuite)
	}
	treeData, ok := findExtension(info.Extensions, ExtensionRatchetTree)
	if !ok {
		return nil, errors.New("mls: welcome carries no ratchet tree")
	}
	t, err := decodeTree(treeData)
	if err != nil {
		return nil, err
	}
	signer := t.leaf(info.Signer)
	if signer == nil {
		return nil, fmt.Errorf("mls: group info signer %d is not a member", info.Signer)
	}
	if err := verifyWithLabel(signer.SignatureKey, "GroupInfoTBS", info.tbs(), info.Signature); err != nil {
		return nil, fmt.Errorf("mls: group info: %w", err)
	}
	if err := verifyTree(t, gc); err != nil {
		return nil, err
	}

	self := uint32(0)
	found := false
	t.members(func(i uint32, l *LeafNode) {
		if !found && l.equal(&secrets.KeyPackage.LeafNode) {
			self, found = i, true
		}
	})
	if !found {
		return nil, errors.New("mls: welcome's tree does not hold this member's leaf")
	}
	g := &Group{
		groupID:    gc.GroupID,
		epoch:      gc.Epoch,
		extensions: gc.Extensions,
		tree:       t,
		transcript: transcript{confirmed: gc.ConfirmedTranscriptHash},
		self:       self,
		sig:        secrets.sig,
		privKeys:   map[nodeIndex]*HPKEKey{leafToNode(self): secrets.leafKey},
	}
	if gs.PathSecret != nil {
		if err := g.adoptPathSecret(info.Signer, gs.PathSecret); err != nil {
			return nil, err
		}
	}
	g.secrets = epochFromJoiner(gs.JoinerSecret, gc.Encode())
	if !verifyMAC(g.secrets.confirmation, gc.ConfirmedTranscriptHash, info.ConfirmationTag) {
		return nil, errors.New("mls: welcome has an invalid confirmation tag")
	}
	g.transcript.interim = interimHash(gc.ConfirmedTranscriptHash, info.ConfirmationTag)
	return g, nil
}

// adoptPathSecret takes the path secret of the lowest common ancestor of this member and the
// committer and derives the keys of the committer's filtered direct path above it, checking
// each against the tree.
func (g *Group) adoptPathSecret(committer uint32, secret []byte) error {
	lca := lowestCommonAncestor(leafToNode(g.self), leafToNode(committer))
	fdp := g.tree.filteredDirectPath(committer)
	start := -1
	for i, s := range fdp {
		if s.node == lca {
			start = i
			break
		}
	}
	if start < 0 {
		return errors.New("mls: welcome path secret has no node on the committer's path")
	}
	for _, s := range fdp[start:] {
		k, err := deriveHPKEKey(DeriveSecret(secret, "node"))
		if err != nil {
			return err
		}
		n := g.tree.nodes[s.node]
		if n.parent == nil || !equalBytes(k.pub, n.parent.EncryptionKey) {
			return errors.New("mls: welcome path secret does not match the tree")
		}
		g.privKeys[s.node] = k
		secret = DeriveSecret(secret, "path")
	}
	return nil
}

// verifyTree checks a received ratchet tree against its group context.
func verifyTree(t *ratchetTree, gc *GroupContext) error {
	if !equalBytes(t.rootHash(), gc.TreeHash) {
		return errors.New("mls: ratchet tree does not match the group's tree hash")
	}
	if err := t.verifyParentHashes(); err != nil {
		return err
	}
	if err := t.verifyStructure(); err != nil {
		return err
	}
	var err error
	t.members(func(i uint32, l *LeafNode) {
		if err != nil {
			return
		}
		if err = l.validate(); err != nil {
			return
		}
		err = l.verifySignature(gc.GroupID, i)
	})
	return err
}
