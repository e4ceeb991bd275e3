package mls

// Array-based tree math of RFC 9420 Appendix C. Leaves sit at even node indices (leaf i is node
// 2i); a parent sits between its subtrees; a tree of n leaves (n a power of two) has 2n-1 nodes.

// nodeIndex is a node's position in the array representation of the ratchet tree.
type nodeIndex uint32

// leafToNode returns the node index of leaf i.
func leafToNode(i uint32) nodeIndex { return nodeIndex(2 * i) }

// nodeToLeaf returns the leaf index of a leaf node.
func nodeToLeaf(x nodeIndex) uint32 { return uint32(x) / 2 }

// isLeaf reports whether x is a leaf.
func (x nodeIndex) isLeaf() bool { return x&1 == 0 }

// log2 returns floor(log2(x)), and 0 for 0.
func log2(x uint32) uint32 {
	if x == 0 {
		return 0
	}
	k := uint32(0)
	for x>>k > 0 {
		k++
	}
	return k - 1
}

// level is the height of x above the leaves: 0 for a leaf.
func level(x nodeIndex) uint32 {
	if x&1 == 0 {
		return 0
	}
	k := uint32(0)
	for (x>>k)&1 == 1 {
		k++
	}
	return k
}

// nodeWidth is the number of nodes of a tree with n leaves.
func nodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// root is the root's node index in a tree with n leaves.
func root(n uint32) nodeIndex {
	w := nodeWidth(n)
	return nodeIndex(uint32(1)<<log2(w) - 1)
}

// left is x's left child; x must be a parent.
func left(x nodeIndex) nodeIndex {
	k := level(x)
	return x ^ nodeIndex(1)<<(k-1)
}

// right is x's right child; x must be a parent.
func right(x nodeIndex) nodeIndex {
	k := level(x)
	return x ^ nodeIndex(3)<<(k-1)
}

// parent is x's parent in a tree with n leaves; x must not be the root.
func parent(x nodeIndex) nodeIndex {
	k := level(x)
	b := (x >> (k + 1)) & 1
	return (x | 1<<k) ^ b<<(k+1)
}

// sibling is the other child of x's parent.
func sibling(x nodeIndex) nodeIndex {
	p := parent(x)
	if x < p {
		return right(p)
	}
	return left(p)
}

// directPath lists x's ancestors from its parent up to the root of a tree with n leaves.
func directPath(x nodeIndex, n uint32) []nodeIndex {
	r := root(n)
	var d []nodeIndex
	for x != r {
		x = parent(x)
		d = append(d, x)
	}
	return d
}

// copath lists the siblings of x and of its ancestors below the root, bottom up.
func copath(x nodeIndex, n uint32) []nodeIndex {
	r := root(n)
	var c []nodeIndex
	for x != r {
		c = append(c, sibling(x))
		x = parent(x)
	}
	return c
}

// isAncestor reports whether a is an ancestor of (or equal to) x: x lies in a's subtree.
func isAncestor(a, x nodeIndex) bool {
	k := level(a)
	lo := a - (nodeIndex(1)<<k - 1)
	hi := a + (nodeIndex(1)<<k - 1)
	return x >= lo && x <= hi
}
