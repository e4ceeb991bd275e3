package mls

import (
	"fmt"
	"slices"
)

// parentNode is a non-blank interior node of the ratchet tree. Parent nodes are never
// modified in place: trees share them between copies, and a change makes a new one.
type parentNode struct {
	EncryptionKey  []byte
	ParentHash     []byte
	UnmergedLeaves []uint32 // sorted ascending
}

func (p *parentNode) encode(w *Writer) {
	w.Opaque(p.EncryptionKey)
	w.Opaque(p.ParentHash)
	w.Vector(func(w *Writer) {
		for _, l := range p.UnmergedLeaves {
			w.Uint32(l)
		}
	})
}

func (p *parentNode) decode(r *Reader) {
	p.EncryptionKey = r.Opaque()
	p.ParentHash = r.Opaque()
	r.Vector(func(r *Reader) {
		l := r.Uint32()
		if n := len(p.UnmergedLeaves); n > 0 && p.UnmergedLeaves[n-1] >= l {
			r.Failf("unmerged leaves not in ascending order")
		}
		p.UnmergedLeaves = append(p.UnmergedLeaves, l)
	})
}

// treeNode is one slot of the tree: a leaf, a parent, or blank (both nil).
type treeNode struct {
	leaf   *LeafNode
	parent *parentNode
}

func (n treeNode) blank() bool { return n.leaf == nil && n.parent == nil }

// encryptionKey returns a non-blank node's HPKE public key.
func (n treeNode) encryptionKey() []byte {
	if n.leaf != nil {
		return n.leaf.EncryptionKey
	}
	return n.parent.EncryptionKey
}

// parentHash returns a non-blank node's parent_hash field (a leaf has one only when it was
// set by a commit).
func (n treeNode) parentHash() []byte {
	if n.leaf != nil {
		return n.leaf.ParentHash
	}
	return n.parent.ParentHash
}

// ratchetTree is the array representation of the ratchet tree; its leaf count is always a
// power of two.
type ratchetTree struct {
	nodes []treeNode
}

// newTree returns a one-leaf tree.
func newTree(leaf *LeafNode) *ratchetTree {
	return &ratchetTree{nodes: []treeNode{{leaf: leaf}}}
}

func (t *ratchetTree) leafCount() uint32 { return uint32(len(t.nodes)+1) / 2 }

func (t *ratchetTree) clone() *ratchetTree {
	return &ratchetTree{nodes: slices.Clone(t.nodes)}
}

// leaf returns leaf i, or nil when it is blank or out of range.
func (t *ratchetTree) leaf(i uint32) *LeafNode {
	x := leafToNode(i)
	if int(x) >= len(t.nodes) {
		return nil
	}
	return t.nodes[x].leaf
}

// members calls fn for each non-blank leaf in index order.
func (t *ratchetTree) members(fn func(i uint32, l *LeafNode)) {
	for i := uint32(0); i < t.leafCount(); i++ {
		if l := t.leaf(i); l != nil {
			fn(i, l)
		}
	}
}

// memberCount is the number of non-blank leaves.
func (t *ratchetTree) memberCount() int {
	n := 0
	t.members(func(uint32, *LeafNode) { n++ })
	return n
}

// addLeaf puts l in the leftmost blank leaf, doubling the tree when it is full, and records
// the new leaf as unmerged at its non-blank ancestors (RFC 9420 Section 12.1.1).
func (t *ratchetTree) addLeaf(l *LeafNode) uint32 {
	var i uint32
	for i = 0; i < t.leafCount(); i++ {
		if t.leaf(i) == nil {
			break
		}
	}
	if i == t.leafCount() {
		grown := make([]treeNode, nodeWidth(2*t.leafCount()))
		copy(grown, t.nodes)
		t.nodes = grown
	}
	x := leafToNode(i)
	t.nodes[x] = treeNode{leaf: l}
	for _, p := range directPath(x, t.leafCount()) {
		if old := t.nodes[p].parent; old != nil {
			np := *old
			np.UnmergedLeaves = append(slices.Clone(old.UnmergedLeaves), i)
			slices.Sort(np.UnmergedLeaves)
			t.nodes[p] = treeNode{parent: &np}
		}
	}
	return i
}

// removeLeaf blanks leaf i and its direct path, then drops the right half of the tree while
// it holds no member (RFC 9420 Section 12.1.3).
func (t *ratchetTree) removeLeaf(i uint32) {
	x := leafToNode(i)
	t.nodes[x] = treeNode{}
	t.blankDirectPath(x)
	for t.leafCount() > 1 {
		half := t.leafCount() / 2
		empty := true
		for j := half; j < t.leafCount(); j++ {
			if t.leaf(j) != nil {
				empty = false
				break
			}
		}
		if !empty {
			break
		}
		t.nodes = t.nodes[:nodeWidth(half)]
	}
}

func (t *ratchetTree) blankDirectPath(x nodeIndex) {
	for _, p := range directPath(x, t.leafCount()) {
		t.nodes[p] = treeNode{}
	}
}

// resolution is RFC 9420's resolution of node x: the minimal set of non-blank nodes covering
// its subtree, with unmerged leaves of a non-blank parent added.
func (t *ratchetTree) resolution(x nodeIndex) []nodeIndex {
	n := t.nodes[x]
	switch {
	case n.leaf != nil:
		return []nodeIndex{x}
	case n.parent != nil:
		res := []nodeIndex{x}
		for _, l := range n.parent.UnmergedLeaves {
			res = append(res, leafToNode(l))
		}
		return res
	case x.isLeaf():
		return nil
	default:
		return append(t.resolution(left(x)), t.resolution(right(x))...)
	}
}

// pathStep is one node of a leaf's filtered direct path, with the child of it that lies on
// the copath (whose resolution receives the path secret).
type pathStep struct {
	node, copathChild nodeIndex
}

// filteredDirectPath is the leaf's direct path without the nodes whose copath child has an
// empty resolution.
func (t *ratchetTree) filteredDirectPath(leaf uint32) []pathStep {
	x := leafToNode(leaf)
	n := t.leafCount()
	var steps []pathStep
	for x != root(n) {
		s := sibling(x)
		p := parent(x)
		if len(t.resolution(s)) > 0 {
			steps = append(steps, pathStep{node: p, copathChild: s})
		}
		x = p
	}
	return steps
}

// treeHash is the tree hash of the subtree at x (RFC 9420 Section 7.8). Leaves in exclude are
// treated as blank and removed from unmerged-leaf lists, which computes the "original" tree
// hash that parent hashes bind.
func (t *ratchetTree) treeHash(x nodeIndex, exclude []uint32) []byte {
	w := NewWriter(nil)
	n := t.nodes[x]
	if x.isLeaf() {
		w.Uint8(1)
		w.Uint32(nodeToLeaf(x))
		present := n.leaf != nil && !slices.Contains(exclude, nodeToLeaf(x))
		w.Optional(present, func(w *Writer) { n.leaf.encode(w) })
		return hashBytes(w.Bytes())
	}
	l := t.treeHash(left(x), exclude)
	r := t.treeHash(right(x), exclude)
	w.Uint8(2)
	w.Optional(n.parent != nil, func(w *Writer) {
		p := n.parent
		if len(exclude) > 0 {
			q := *p
			q.UnmergedLeaves = slices.DeleteFunc(slices.Clone(p.UnmergedLeaves), func(l uint32) bool {
				return slices.Contains(exclude, l)
			})
			p = &q
		}
		p.encode(w)
	})
	w.Opaque(l)
	w.Opaque(r)
	return hashBytes(w.Bytes())
}

// rootHash is the tree hash of the whole tree, GroupContext.tree_hash.
func (t *ratchetTree) rootHash() []byte { return t.treeHash(root(t.leafCount()), nil) }

// parentHashOf computes ParentHash(P) for parent p with sibling subtree s (the child of p not
// on the path being authenticated), using s's original tree hash.
func (t *ratchetTree) parentHashOf(p, s nodeIndex) []byte {
	pn := t.nodes[p].parent
	w := NewWriter(nil)
	w.Opaque(pn.EncryptionKey)
	w.Opaque(pn.ParentHash)
	w.Opaque(t.treeHash(s, pn.UnmergedLeaves))
	return hashBytes(w.Bytes())
}

// verifyParentHashes checks that every non-blank parent node is parent-hash valid (RFC 9420
// Section 7.9.2): some node in the resolution of one child carries the parent hash that P
// computes with the other child as sibling.
func (t *ratchetTree) verifyParentHashes() error {
	for x := nodeIndex(1); int(x) < len(t.nodes); x += 2 {
		if t.nodes[x].parent == nil {
			continue
		}
		l, r := left(x), right(x)
		if !t.hasParentHash(l, t.parentHashOf(x, r)) && !t.hasParentHash(r, t.parentHashOf(x, l)) {
			return fmt.Errorf("mls: parent node %d is not parent-hash valid", x)
		}
	}
	return nil
}

func (t *ratchetTree) hasParentHash(child nodeIndex, want []byte) bool {
	for _, y := range t.resolution(child) {
		if equalBytes(t.nodes[y].parentHash(), want) {
			return true
		}
	}
	return false
}

// encode writes the ratchet_tree extension's content: optional<Node> ratchet_tree<V>, with
// trailing blank nodes left out.
func (t *ratchetTree) encode(w *Writer) {
	last := len(t.nodes) - 1
	for last >= 0 && t.nodes[last].blank() {
		last--
	}
	w.Vector(func(w *Writer) {
		for _, n := range t.nodes[:last+1] {
			w.Optional(!n.blank(), func(w *Writer) {
				if n.leaf != nil {
					w.Uint8(1)
					n.leaf.encode(w)
				} else {
					w.Uint8(2)
					n.parent.encode(w)
				}
			})
		}
	})
}

// maxTreeNodes bounds a decoded tree (4096 leaves); Discord voice sessions hold far fewer
// members, and verifying a tree costs O(n log n) hashes.
const maxTreeNodes = 1<<13 - 1

// decodeTree parses the ratchet_tree extension's content and pads the tree to a complete one.
func decodeTree(data []byte) (*ratchetTree, error) {
	r := NewReader(data)
	t := &ratchetTree{}
	r.Vector(func(r *Reader) {
		if len(t.nodes) >= maxTreeNodes {
			r.Failf("ratchet tree has more than %d nodes", maxTreeNodes)
			return
		}
		idx := nodeIndex(len(t.nodes))
		var n treeNode
		r.Optional(func(r *Reader) {
			switch typ := r.Uint8(); typ {
			case 1:
				if !idx.isLeaf() {
					r.Failf("leaf at parent position %d", idx)
					return
				}
				n.leaf = new(LeafNode)
				n.leaf.decode(r)
			case 2:
				if idx.isLeaf() {
					r.Failf("parent at leaf position %d", idx)
					return
				}
				n.parent = new(parentNode)
				n.parent.decode(r)
			default:
				r.Failf("invalid node type %d", typ)
			}
		})
		t.nodes = append(t.nodes, n)
	})
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: ratchet tree: %w", err)
	}
	if len(t.nodes) == 0 || t.nodes[len(t.nodes)-1].blank() {
		return nil, fmt.Errorf("mls: ratchet tree is empty or ends with a blank node")
	}
	if len(t.nodes)%2 == 0 {
		return nil, fmt.Errorf("mls: ratchet tree has an even number of nodes")
	}
	leaves := uint32(1)
	for nodeWidth(leaves) < uint32(len(t.nodes)) {
		leaves *= 2
	}
	full := make([]treeNode, nodeWidth(leaves))
	copy(full, t.nodes)
	t.nodes = full
	return t, nil
}

// verifyStructure checks the invariants a received tree must keep beyond its hashes: every
// unmerged leaf is a member below the parent that lists it, and no two members share an
// encryption key, a signature key or a user ID.
func (t *ratchetTree) verifyStructure() error {
	for x := nodeIndex(1); int(x) < len(t.nodes); x += 2 {
		p := t.nodes[x].parent
		if p == nil {
			continue
		}
		for _, l := range p.UnmergedLeaves {
			if l >= t.leafCount() || !isAncestor(x, leafToNode(l)) || t.leaf(l) == nil {
				return fmt.Errorf("mls: parent %d lists an invalid unmerged leaf %d", x, l)
			}
		}
	}
	enc := map[string]bool{}
	sig := map[string]bool{}
	users := map[uint64]bool{}
	var err error
	for x := range t.nodes {
		n := t.nodes[x]
		if n.blank() {
			continue
		}
		k := string(n.encryptionKey())
		if enc[k] {
			return fmt.Errorf("mls: two nodes share an encryption key")
		}
		enc[k] = true
		if n.leaf == nil {
			continue
		}
		if sig[string(n.leaf.SignatureKey)] {
			return fmt.Errorf("mls: two members share a signature key")
		}
		sig[string(n.leaf.SignatureKey)] = true
		uid, uerr := n.leaf.UserID()
		if uerr != nil {
			return uerr
		}
		if users[uid] {
			err = fmt.Errorf("mls: user %d appears twice in the group", uid)
		}
		users[uid] = true
	}
	return err
}
