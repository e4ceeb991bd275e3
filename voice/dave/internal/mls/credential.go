package mls

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// CredentialTypeBasic is the only credential type DAVE allows.
const CredentialTypeBasic uint16 = 1

// Extension types used by DAVE (RFC 9420 Section 17.3).
const (
	ExtensionRatchetTree     uint16 = 2
	ExtensionExternalSenders uint16 = 5
)

// Credential is a basic credential: for DAVE the identity is the big-endian 64-bit user ID.
type Credential struct {
	Type     uint16
	Identity []byte
}

// BasicCredential returns the basic credential of a Discord user ID.
func BasicCredential(userID uint64) Credential {
	return Credential{Type: CredentialTypeBasic, Identity: binary.BigEndian.AppendUint64(nil, userID)}
}

// UserID returns the user ID a DAVE credential names, or an error when the credential is not
// a basic credential holding exactly 8 bytes.
func (c Credential) UserID() (uint64, error) {
	if c.Type != CredentialTypeBasic {
		return 0, fmt.Errorf("mls: credential type %d is not basic", c.Type)
	}
	if len(c.Identity) != 8 {
		return 0, fmt.Errorf("mls: basic credential identity has %d bytes, want 8", len(c.Identity))
	}
	return binary.BigEndian.Uint64(c.Identity), nil
}

// Equal reports whether two credentials are identical.
func (c Credential) Equal(o Credential) bool {
	return c.Type == o.Type && bytes.Equal(c.Identity, o.Identity)
}

func (c *Credential) encode(w *Writer) {
	w.Uint16(c.Type)
	w.Opaque(c.Identity)
}

func (c *Credential) decode(r *Reader) {
	c.Type = r.Uint16()
	if c.Type != CredentialTypeBasic {
		r.Failf("unsupported credential type %d", c.Type)
		return
	}
	c.Identity = r.Opaque()
}

// Capabilities lists what a leaf node supports.
type Capabilities struct {
	Versions     []uint16
	CipherSuites []uint16
	Extensions   []uint16
	Proposals    []uint16
	Credentials  []uint16
}

// DAVECapabilities is what DAVE protocol version 1 members announce: MLS 1.0, ciphersuite 2,
// no extra extensions or proposals, basic credentials.
func DAVECapabilities() Capabilities {
	return Capabilities{
		Versions:     []uint16{ProtocolVersionMLS10},
		CipherSuites: []uint16{uint16(CipherSuiteP256)},
		Credentials:  []uint16{CredentialTypeBasic},
	}
}

func writeUint16s(w *Writer, v []uint16) {
	w.Vector(func(w *Writer) {
		for _, x := range v {
			w.Uint16(x)
		}
	})
}

func readUint16s(r *Reader) []uint16 {
	var v []uint16
	r.Vector(func(r *Reader) { v = append(v, r.Uint16()) })
	return v
}

func (c *Capabilities) encode(w *Writer) {
	writeUint16s(w, c.Versions)
	writeUint16s(w, c.CipherSuites)
	writeUint16s(w, c.Extensions)
	writeUint16s(w, c.Proposals)
	writeUint16s(w, c.Credentials)
}

func (c *Capabilities) decode(r *Reader) {
	c.Versions = readUint16s(r)
	c.CipherSuites = readUint16s(r)
	c.Extensions = readUint16s(r)
	c.Proposals = readUint16s(r)
	c.Credentials = readUint16s(r)
}

func contains16(v []uint16, x uint16) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// Lifetime bounds a key package's validity in seconds since the epoch. DAVE requires the
// widest span, and members do not check it.
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

// MaxLifetime is the lifetime DAVE's voice gateway requires: 0 to 2^64-1.
var MaxLifetime = Lifetime{NotBefore: 0, NotAfter: ^uint64(0)}

// Extension is an MLS extension: a type and opaque data.
type Extension struct {
	Type uint16
	Data []byte
}

func writeExtensions(w *Writer, exts []Extension) {
	w.Vector(func(w *Writer) {
		for _, e := range exts {
			w.Uint16(e.Type)
			w.Opaque(e.Data)
		}
	})
}

func readExtensions(r *Reader) []Extension {
	var exts []Extension
	r.Vector(func(r *Reader) {
		var e Extension
		e.Type = r.Uint16()
		e.Data = r.Opaque()
		for _, prev := range exts {
			if prev.Type == e.Type {
				r.Failf("duplicate extension %d", e.Type)
			}
		}
		exts = append(exts, e)
	})
	return exts
}

// findExtension returns the data of the extension of type t.
func findExtension(exts []Extension, t uint16) ([]byte, bool) {
	for _, e := range exts {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}

// ExternalSender is the external_senders extension's entry: who may send proposals from
// outside the group (the voice gateway).
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

// Encode returns the TLS encoding, the payload of DAVE opcode 25.
func (e *ExternalSender) Encode() []byte {
	w := NewWriter(nil)
	e.encode(w)
	return w.Bytes()
}

func (e *ExternalSender) encode(w *Writer) {
	w.Opaque(e.SignatureKey)
	e.Credential.encode(w)
}

func (e *ExternalSender) decode(r *Reader) {
	e.SignatureKey = r.Opaque()
	e.Credential.decode(r)
}

// Equal reports whether two external senders are identical.
func (e *ExternalSender) Equal(o *ExternalSender) bool {
	return bytes.Equal(e.SignatureKey, o.SignatureKey) && e.Credential.Equal(o.Credential)
}

// DecodeExternalSender parses the payload of DAVE opcode 25.
func DecodeExternalSender(b []byte) (*ExternalSender, error) {
	r := NewReader(b)
	var e ExternalSender
	e.decode(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: external sender: %w", err)
	}
	if len(e.SignatureKey) == 0 {
		return nil, fmt.Errorf("mls: external sender has no signature key")
	}
	return &e, nil
}

// externalSendersExtension encodes the external_senders group context extension.
func externalSendersExtension(senders []ExternalSender) Extension {
	w := NewWriter(nil)
	w.Vector(func(w *Writer) {
		for i := range senders {
			senders[i].encode(w)
		}
	})
	return Extension{Type: ExtensionExternalSenders, Data: w.Bytes()}
}

// decodeExternalSenders parses the external_senders extension's data.
func decodeExternalSenders(data []byte) ([]ExternalSender, error) {
	r := NewReader(data)
	var senders []ExternalSender
	r.Vector(func(r *Reader) {
		var e ExternalSender
		e.decode(r)
		senders = append(senders, e)
	})
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("mls: external_senders extension: %w", err)
	}
	return senders, nil
}
