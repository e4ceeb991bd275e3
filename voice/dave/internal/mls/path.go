package mls

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
)

// setPathParentHashes fills the parent_hash fields along a filtered direct path, top down,
// and returns the parent hash the leaf must carry (RFC 9420 Section 7.9). The path's parent
// nodes must already hold their new keys.
func setPathParentHashes(t *ratchetTree, fdp []pathStep) []byte {
	var below []byte // parent hash for the node below the current one
	for i := len(fdp) - 1; i >= 0; i-- {
		p := *t.nodes[fdp[i].node].parent
		p.ParentHash = below
		t.nodes[fdp[i].node] = treeNode{parent: &p}
		below = t.parentHashOf(fdp[i].node, fdp[i].copathChild)
	}
	return below
}

// newPath generates the committer's UpdatePath on t (proposals applied): fresh leaf and node
// keys, parent hashes, the signed leaf, and the path secrets encrypted to each copath
// resolution except the joiners. It returns the commit secret, the path secrets by node and
// the new private keys. groupContext is filled in from t once the path is in place.
func (g *Group) newPath(t *ratchetTree, joiners []joiner, provisional func(*ratchetTree) []byte) (*UpdatePath, []byte, map[nodeIndex][]byte, map[nodeIndex]*HPKEKey, error) {
	me := leafToNode(g.self)
	old := t.leaf(g.self)
	leafKey, err := generateHPKEKey()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	t.blankDirectPath(me)
	fdp := t.filteredDirectPath(g.self)
	secret := make([]byte, hashSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, nil, nil, err
	}
	keys := map[nodeIndex]*HPKEKey{me: leafKey}
	secrets := map[nodeIndex][]byte{}
	pathSecrets := make([][]byte, len(fdp))
	for i, step := range fdp {
		pathSecrets[i] = secret
		secrets[step.node] = secret
		k, err := deriveHPKEKey(DeriveSecret(secret, "node"))
		if err != nil {
			return nil, nil, nil, nil, err
		}
		keys[step.node] = k
		t.nodes[step.node] = treeNode{parent: &parentNode{EncryptionKey: k.pub}}
		secret = DeriveSecret(secret, "path")
	}
	commitSecret := secret

	leaf := &LeafNode{
		EncryptionKey: leafKey.pub,
		SignatureKey:  old.SignatureKey,
		Credential:    old.Credential,
		Capabilities:  old.Capabilities,
		Source:        LeafSourceCommit,
		ParentHash:    setPathParentHashes(t, fdp),
		Extensions:    old.Extensions,
	}
	if err := leaf.sign(g.sig, g.groupID, g.self); err != nil {
		return nil, nil, nil, nil, err
	}
	t.nodes[me] = treeNode{leaf: leaf}

	ctx := provisional(t)
	isJoiner := func(x nodeIndex) bool {
		return x.isLeaf() && slices.ContainsFunc(joiners, func(j joiner) bool { return j.leaf == nodeToLeaf(x) })
	}
	path := &UpdatePath{LeafNode: *leaf}
	for i, step := range fdp {
		node := UpdatePathNode{EncryptionKey: keys[step.node].pub}
		for _, y := range t.resolution(step.copathChild) {
			if isJoiner(y) {
				continue
			}
			ct, err := encryptWithLabel(t.nodes[y].encryptionKey(), "UpdatePathNode", ctx, pathSecrets[i])
			if err != nil {
				return nil, nil, nil, nil, err
			}
			node.EncryptedPathSecret = append(node.EncryptedPathSecret, ct)
		}
		path.Nodes = append(path.Nodes, node)
	}
	return path, commitSecret, secrets, keys, nil
}

// applyPath merges another member's UpdatePath into t (proposals applied) and checks its
// leaf and parent hashes. provisional computes the provisional group context once the path
// is merged; the path secret is then decrypted with one of this member's keys. It returns the
// commit secret and the private keys of the path nodes this member now knows.
func (g *Group) applyPath(t *ratchetTree, sender uint32, path *UpdatePath, joiners []joiner, provisional func(*ratchetTree) []byte) ([]byte, map[nodeIndex]*HPKEKey, error) {
	sx := leafToNode(sender)
	old := t.leaf(sender)
	leaf := path.LeafNode.clone()
	if leaf.Source != LeafSourceCommit {
		return nil, nil, fmt.Errorf("mls: path leaf node source %d, want commit", leaf.Source)
	}
	if !equalBytes(leaf.SignatureKey, old.SignatureKey) || !leaf.Credential.Equal(old.Credential) {
		return nil, nil, errors.New("mls: commit changes its sender's credential or signature key")
	}
	if err := leaf.validate(); err != nil {
		return nil, nil, err
	}
	if err := leaf.verifySignature(g.groupID, sender); err != nil {
		return nil, nil, err
	}
	t.blankDirectPath(sx)
	fdp := t.filteredDirectPath(sender)
	if len(path.Nodes) != len(fdp) {
		return nil, nil, fmt.Errorf("mls: update path has %d nodes, the filtered direct path %d", len(path.Nodes), len(fdp))
	}
	for i, step := range fdp {
		t.nodes[step.node] = treeNode{parent: &parentNode{EncryptionKey: path.Nodes[i].EncryptionKey}}
	}
	if ph := setPathParentHashes(t, fdp); !equalBytes(ph, leaf.ParentHash) {
		return nil, nil, errors.New("mls: update path leaf has a wrong parent hash")
	}
	t.nodes[sx] = treeNode{leaf: leaf}
	ctx := provisional(t)

	// Find the path node whose copath subtree holds this member, and the key to open it.
	me := leafToNode(g.self)
	isJoiner := func(x nodeIndex) bool {
		return x.isLeaf() && slices.ContainsFunc(joiners, func(j joiner) bool { return j.leaf == nodeToLeaf(x) })
	}
	start := -1
	var secret []byte
	for i, step := range fdp {
		if !isAncestor(step.copathChild, me) {
			continue
		}
		start = i
		var targets []nodeIndex
		for _, y := range t.resolution(step.copathChild) {
			if !isJoiner(y) {
				targets = append(targets, y)
			}
		}
		cts := path.Nodes[i].EncryptedPathSecret
		if len(cts) != len(targets) {
			return nil, nil, fmt.Errorf("mls: update path node has %d ciphertexts for %d recipients", len(cts), len(targets))
		}
		for pos, y := range targets {
			if k := g.privKeys[y]; k != nil && equalBytes(k.pub, t.nodes[y].encryptionKey()) {
				pt, err := decryptWithLabel(k.priv, "UpdatePathNode", ctx, cts[pos])
				if err != nil {
					return nil, nil, err
				}
				secret = pt
				break
			}
		}
		break
	}
	if start < 0 || secret == nil {
		return nil, nil, errors.New("mls: no path secret in the commit is encrypted to this member")
	}
	keys := map[nodeIndex]*HPKEKey{}
	for i := start; i < len(fdp); i++ {
		k, err := deriveHPKEKey(DeriveSecret(secret, "node"))
		if err != nil {
			return nil, nil, err
		}
		if !equalBytes(k.pub, path.Nodes[i].EncryptionKey) {
			return nil, nil, errors.New("mls: path secret does not match the update path's public key")
		}
		keys[fdp[i].node] = k
		secret = DeriveSecret(secret, "path")
	}
	return secret, keys, nil
}
