package mls

import (
	"bytes"
	"fmt"
)

// Leaf node sources (RFC 9420 Section 7.2).
const (
	LeafSourceKeyPackage uint8 = 1
	LeafSourceUpdate     uint8 = 2
	LeafSourceCommit     uint8 = 3
)

// LeafNode is a member's leaf in the ratchet tree: its encryption key, identity and
// signature.
type LeafNode struct {
	EncryptionKey []byte
	SignatureKey  []byte
	Credential    Credential
	Capabilities  Capabilities
	Source        uint8
	Lifetime      Lifetime // Source == LeafSourceKeyPackage
	ParentHash    []byte   // Source == LeafSourceCommit
	Extensions    []Extension
	Signature     []byte
}

func (l *LeafNode) encodeContent(w *Writer) {
	w.Opaque(l.EncryptionKey)
	w.Opaque(l.SignatureKey)
	l.Credential.encode(w)
	l.Capabilities.encode(w)
	w.Uint8(l.Source)
	switch l.Source {
	case LeafSourceKeyPackage:
		w.Uint64(l.Lifetime.NotBefore)
		w.Uint64(l.Lifetime.NotAfter)
	case LeafSourceCommit:
		w.Opaque(l.ParentHash)
	}
	writeExtensions(w, l.Extensions)
}

func (l *LeafNode) encode(w *Writer) {
	l.encodeContent(w)
	w.Opaque(l.Signature)
}

func (l *LeafNode) decode(r *Reader) {
	l.EncryptionKey = r.Opaque()
	l.SignatureKey = r.Opaque()
	l.Credential.decode(r)
	l.Capabilities.decode(r)
	l.Source = r.Uint8()
	switch l.Source {
	case LeafSourceKeyPackage:
		l.Lifetime.NotBefore = r.Uint64()
		l.Lifetime.NotAfter = r.Uint64()
	case LeafSourceUpdate:
	case LeafSourceCommit:
		l.ParentHash = r.Opaque()
	default:
		r.Failf("invalid leaf node source %d", l.Source)
	}
	l.Extensions = readExtensions(r)
	l.Signature = r.Opaque()
}

// tbs encodes LeafNodeTBS: the content, plus the group ID and leaf index for leaves created
// inside a group (update and commit sources).
func (l *LeafNode) tbs(groupID []byte, leaf uint32) []byte {
	w := NewWriter(nil)
	l.encodeContent(w)
	if l.Source != LeafSourceKeyPackage {
		w.Opaque(groupID)
		w.Uint32(leaf)
	}
	return w.Bytes()
}

func (l *LeafNode) sign(key *SigningKey, groupID []byte, leaf uint32) error {
	sig, err := key.signWithLabel("LeafNodeTBS", l.tbs(groupID, leaf))
	if err != nil {
		return err
	}
	l.Signature = sig
	return nil
}

func (l *LeafNode) verifySignature(groupID []byte, leaf uint32) error {
	if err := verifyWithLabel(l.SignatureKey, "LeafNodeTBS", l.tbs(groupID, leaf), l.Signature); err != nil {
		return fmt.Errorf("mls: leaf node: %w", err)
	}
	return nil
}

// validate checks what RFC 9420 Section 7.3 asks of every leaf node that DAVE can meet: a
// basic credential naming a user, capabilities covering the ciphersuite, MLS 1.0 and basic
// credentials, and no extensions the capabilities do not list.
func (l *LeafNode) validate() error {
	if _, err := l.Credential.UserID(); err != nil {
		return err
	}
	c := &l.Capabilities
	if !contains16(c.Versions, ProtocolVersionMLS10) {
		return fmt.Errorf("mls: leaf node does not support MLS 1.0")
	}
	if !contains16(c.CipherSuites, uint16(CipherSuiteP256)) {
		return fmt.Errorf("mls: leaf node does not support ciphersuite %d", CipherSuiteP256)
	}
	if !contains16(c.Credentials, CredentialTypeBasic) {
		return fmt.Errorf("mls: leaf node does not support basic credentials")
	}
	for _, e := range l.Extensions {
		if !contains16(c.Extensions, e.Type) {
			return fmt.Errorf("mls: leaf node carries extension %d it does not list", e.Type)
		}
	}
	if len(l.EncryptionKey) == 0 || len(l.SignatureKey) == 0 {
		return fmt.Errorf("mls: leaf node lacks a key")
	}
	return nil
}

// UserID returns the user the leaf's credential names.
func (l *LeafNode) UserID() (uint64, error) { return l.Credential.UserID() }

func (l *LeafNode) clone() *LeafNode {
	c := *l
	return &c
}

func (l *LeafNode) equal(o *LeafNode) bool {
	a, b := NewWriter(nil), NewWriter(nil)
	l.encode(a)
	o.encode(b)
	return bytes.Equal(a.Bytes(), b.Bytes())
}
