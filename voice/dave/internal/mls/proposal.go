package mls

import "fmt"

// Proposal types DAVE allows (RFC 9420 Section 17.4 numbers them; only the voice gateway
// proposes, and only adds and removes).
const (
	ProposalAdd    uint16 = 1
	ProposalRemove uint16 = 3
)

// Proposal is an Add or a Remove.
type Proposal struct {
	Type    uint16
	Add     *KeyPackage // Type == ProposalAdd
	Removed uint32      // Type == ProposalRemove: the leaf index to remove
}

func (p *Proposal) encode(w *Writer) {
	w.Uint16(p.Type)
	switch p.Type {
	case ProposalAdd:
		p.Add.encode(w)
	case ProposalRemove:
		w.Uint32(p.Removed)
	}
}

func (p *Proposal) decode(r *Reader) {
	p.Type = r.Uint16()
	switch p.Type {
	case ProposalAdd:
		p.Add = new(KeyPackage)
		p.Add.decode(r)
	case ProposalRemove:
		p.Removed = r.Uint32()
	default:
		r.Failf("proposal type %d is not allowed in DAVE", p.Type)
	}
}

// ProposalOrRef types.
const (
	proposalOrRefProposal  uint8 = 1
	proposalOrRefReference uint8 = 2
)

// ProposalOrRef is a commit's entry: a proposal inline or a reference to one sent before.
type ProposalOrRef struct {
	Proposal  *Proposal // inline
	Reference []byte    // ProposalRef
}

func (p *ProposalOrRef) encode(w *Writer) {
	if p.Proposal != nil {
		w.Uint8(proposalOrRefProposal)
		p.Proposal.encode(w)
		return
	}
	w.Uint8(proposalOrRefReference)
	w.Opaque(p.Reference)
}

func (p *ProposalOrRef) decode(r *Reader) {
	switch t := r.Uint8(); t {
	case proposalOrRefProposal:
		p.Proposal = new(Proposal)
		p.Proposal.decode(r)
	case proposalOrRefReference:
		p.Reference = r.Opaque()
	default:
		r.Failf("invalid ProposalOrRef type %d", t)
	}
}

// UpdatePathNode carries a new parent node key and the path secret encrypted to each node of
// the copath child's resolution.
type UpdatePathNode struct {
	EncryptionKey       []byte
	EncryptedPathSecret []HPKECiphertext
}

// UpdatePath is the committer's new leaf and fresh keys along its filtered direct path.
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (u *UpdatePath) encode(w *Writer) {
	u.LeafNode.encode(w)
	w.Vector(func(w *Writer) {
		for i := range u.Nodes {
			n := &u.Nodes[i]
			w.Opaque(n.EncryptionKey)
			w.Vector(func(w *Writer) {
				for j := range n.EncryptedPathSecret {
					n.EncryptedPathSecret[j].encode(w)
				}
			})
		}
	})
}

func (u *UpdatePath) decode(r *Reader) {
	u.LeafNode.decode(r)
	r.Vector(func(r *Reader) {
		var n UpdatePathNode
		n.EncryptionKey = r.Opaque()
		r.Vector(func(r *Reader) {
			var c HPKECiphertext
			c.decode(r)
			n.EncryptedPathSecret = append(n.EncryptedPathSecret, c)
		})
		u.Nodes = append(u.Nodes, n)
	})
}

// Commit applies proposals and optionally refreshes the committer's path.
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) encode(w *Writer) {
	w.Vector(func(w *Writer) {
		for i := range c.Proposals {
			c.Proposals[i].encode(w)
		}
	})
	w.Optional(c.Path != nil, func(w *Writer) { c.Path.encode(w) })
}

func (c *Commit) decode(r *Reader) {
	r.Vector(func(r *Reader) {
		var p ProposalOrRef
		p.decode(r)
		c.Proposals = append(c.Proposals, p)
	})
	r.Optional(func(r *Reader) {
		c.Path = new(UpdatePath)
		c.Path.decode(r)
	})
}

// pathRequired reports whether RFC 9420 requires an UpdatePath for these proposals: always
// unless every proposal is an Add (PSK and ReInit, which also qualify, never occur in DAVE).
func pathRequired(props []*Proposal) bool {
	if len(props) == 0 {
		return true
	}
	for _, p := range props {
		if p.Type != ProposalAdd {
			return true
		}
	}
	return false
}

// String describes the proposal for logs.
func (p *Proposal) String() string {
	switch p.Type {
	case ProposalAdd:
		uid, _ := p.Add.UserID()
		return fmt.Sprintf("add(user %d)", uid)
	case ProposalRemove:
		return fmt.Sprintf("remove(leaf %d)", p.Removed)
	}
	return fmt.Sprintf("proposal(%d)", p.Type)
}
