package mls

import "fmt"

// KeyPackage is a prospective member's signed offer to join: its init key (for the Welcome)
// and the leaf node it will occupy.
type KeyPackage struct {
	Version     uint16
	CipherSuite CipherSuite
	InitKey     []byte
	LeafNode    LeafNode
	Extensions  []Extension
	Signature   []byte
}

func (k *KeyPackage) encodeTBS(w *Writer) {
	w.Uint16(k.Version)
	w.Uint16(uint16(k.CipherSuite))
	w.Opaque(k.InitKey)
	k.LeafNode.encode(w)
	writeExtensions(w, k.Extensions)
}

func (k *KeyPackage) encode(w *Writer) {
	k.encodeTBS(w)
	w.Opaque(k.Signature)
}

func (k *KeyPackage) decode(r *Reader) {
	k.Version = r.Uint16()
	k.CipherSuite = CipherSuite(r.Uint16())
	k.InitKey = r.Opaque()
	k.LeafNode.decode(r)
	k.Extensions = readExtensions(r)
	k.Signature = r.Opaque()
}

// Encode returns the TLS encoding of the key package (DAVE opcode 26 carries it bare).
func (k *KeyPackage) Encode() []byte {
	w := NewWriter(nil)
	k.encode(w)
	return w.Bytes()
}

// Ref returns KeyPackageRef: RefHash("MLS 1.0 KeyPackage Reference", KeyPackage).
func (k *KeyPackage) Ref() []byte {
	return refHash("MLS 1.0 KeyPackage Reference", k.Encode())
}

// UserID returns the user the key package's credential names.
func (k *KeyPackage) UserID() (uint64, error) { return k.LeafNode.UserID() }

// DecodeKeyPackage parses a bare KeyPackage.
func DecodeKeyPackage(b []byte) (*KeyPackage, error) {
	r := NewReader(b)
	var k KeyPackage
	k.decode(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: key package: %w", err)
	}
	return &k, nil
}

// Verify checks the key package as RFC 9420 Section 10.1 asks (minus the lifetime, which
// DAVE members do not check): version, ciphersuite, leaf node source and validity, both
// signatures, and distinct init and encryption keys.
func (k *KeyPackage) Verify() error {
	if k.Version != ProtocolVersionMLS10 {
		return fmt.Errorf("mls: key package version %d", k.Version)
	}
	if k.CipherSuite != CipherSuiteP256 {
		return fmt.Errorf("mls: key package ciphersuite %d", k.CipherSuite)
	}
	if k.LeafNode.Source != LeafSourceKeyPackage {
		return fmt.Errorf("mls: key package leaf node source %d", k.LeafNode.Source)
	}
	if err := k.LeafNode.validate(); err != nil {
		return err
	}
	if err := k.LeafNode.verifySignature(nil, 0); err != nil {
		return err
	}
	w := NewWriter(nil)
	k.encodeTBS(w)
	if err := verifyWithLabel(k.LeafNode.SignatureKey, "KeyPackageTBS", w.Bytes(), k.Signature); err != nil {
		return fmt.Errorf("mls: key package: %w", err)
	}
	if equalBytes(k.InitKey, k.LeafNode.EncryptionKey) {
		return fmt.Errorf("mls: key package init key equals its encryption key")
	}
	return nil
}

// newKeyPackage builds and signs a key package for leaf, a key-package-sourced leaf node
// signed with sig, with the init key given.
func newKeyPackage(sig *SigningKey, leaf *LeafNode, initKey *HPKEKey) (*KeyPackage, error) {
	k := &KeyPackage{
		Version:     ProtocolVersionMLS10,
		CipherSuite: CipherSuiteP256,
		InitKey:     initKey.PublicKey(),
		LeafNode:    *leaf,
	}
	w := NewWriter(nil)
	k.encodeTBS(w)
	s, err := sig.signWithLabel("KeyPackageTBS", w.Bytes())
	if err != nil {
		return nil, err
	}
	k.Signature = s
	return k, nil
}
